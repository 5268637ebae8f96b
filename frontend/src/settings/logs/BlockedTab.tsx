/** Logs → Blocked egress: requests the egress guard refused. */
import { useQuery } from "@tanstack/react-query";
import { api, call } from "../../api/client";
import { ago, dateTime } from "../../lib/format";
import { Link } from "../../lib/router";
import { Loading } from "../../ui/Spinner";
import { EmptyState, ErrorBox } from "../../ui/States";
import { useWorkspace } from "../../workspace/context";

export function BlockedTab() {
  const { ws } = useWorkspace();
  const blocked = useQuery({
    queryKey: ["blocked", ws],
    queryFn: async () =>
      (await call(api.GET("/api/v1/workspaces/{ws}/logs/blocked-egress", { params: { path: { ws } } }))).items,
  });
  if (blocked.isPending) return <Loading />;
  if (blocked.isError) return <ErrorBox error={blocked.error} />;
  if (blocked.data.length === 0) {
    return <EmptyState title="Nothing blocked">Requests refused by the egress guard are listed here.</EmptyState>;
  }
  return (
    <div className="card">
      <table className="table" aria-label="Blocked egress">
        <thead>
          <tr>
            <th>When</th>
            <th>Node</th>
            <th>Host</th>
            <th>Reason</th>
            <th>URL</th>
          </tr>
        </thead>
        <tbody>
          {blocked.data.map((b) => (
            <tr key={b.id}>
              <td title={dateTime(b.at)}>{ago(b.at)}</td>
              <td>
                {b.workflow_id && b.node_id ? (
                  <Link to={`/w/${ws}/workflows/${b.workflow_id}?node=${encodeURIComponent(b.node_id)}`}>
                    {b.node_name ?? b.node_id}
                  </Link>
                ) : (
                  (b.node_name ?? "—")
                )}
                {b.run_id && (
                  <>
                    {" "}
                    · <Link to={`/w/${ws}/runs/${b.run_id}`}>run</Link>
                  </>
                )}
              </td>
              <td className="mono">{b.host}</td>
              <td>
                <span className="muted small">{b.kind}</span> {b.reason}
              </td>
              <td className="mono break">{b.url}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
