/** Logs → Audit log: secrets created, rotated, deleted and used, member changes (append-only). */
import { useInfiniteQuery } from "@tanstack/react-query";
import { api, call } from "../../api/client";
import { ago, dateTime } from "../../lib/format";
import { Button } from "../../ui/Button";
import { Loading } from "../../ui/Spinner";
import { EmptyState, ErrorBox } from "../../ui/States";
import { useWorkspace } from "../../workspace/context";

export function AuditTab() {
  const { ws } = useWorkspace();
  const audit = useInfiniteQuery({
    queryKey: ["audit", ws],
    initialPageParam: undefined as number | undefined,
    queryFn: ({ pageParam }) =>
      call(
        api.GET("/api/v1/workspaces/{ws}/audit", {
          params: { path: { ws }, query: { before_id: pageParam, limit: 50 } },
        }),
      ),
    getNextPageParam: (page) => page.next_before_id ?? undefined,
  });
  if (audit.isPending) return <Loading />;
  if (audit.isError) return <ErrorBox error={audit.error} />;
  const events = audit.data.pages.flatMap((p) => p.items);
  if (events.length === 0) return <EmptyState title="No audit events yet" />;
  return (
    <>
      <div className="card">
        <table className="table" aria-label="Audit log">
          <thead>
            <tr>
              <th>When</th>
              <th>Who</th>
              <th>Action</th>
              <th>Target</th>
              <th>Details</th>
            </tr>
          </thead>
          <tbody>
            {events.map((e) => (
              <tr key={e.id}>
                <td title={dateTime(e.at)}>{ago(e.at)}</td>
                <td>{e.actor_email ?? <span className="muted">system</span>}</td>
                <td className="mono">{e.action}</td>
                <td>
                  <span className="muted small">{e.target_type}</span>
                </td>
                <td className="small details-cell">
                  {Object.entries(e.details ?? {})
                    .map(([k, v]) => `${k}: ${typeof v === "string" ? v : JSON.stringify(v)}`)
                    .join(" · ")}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {audit.hasNextPage && (
        <Button onClick={() => void audit.fetchNextPage()} busy={audit.isFetchingNextPage}>
          Load older events
        </Button>
      )}
    </>
  );
}
