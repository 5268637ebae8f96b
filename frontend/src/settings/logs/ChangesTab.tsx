/** Logs → Change history: what each save of a workflow changed, by node and field. */
import { useQuery } from "@tanstack/react-query";
import { api, call } from "../../api/client";
import { ago, dateTime } from "../../lib/format";
import { Link } from "../../lib/router";
import { Loading } from "../../ui/Spinner";
import { EmptyState, ErrorBox } from "../../ui/States";
import { useWorkspace } from "../../workspace/context";

function describeChange(c: Record<string, unknown>): string {
  const node = c.node_name ? `${String(c.node_name)}: ` : "";
  switch (c.change) {
    case "created":
      return `created “${String(c.name)}”`;
    case "added":
      return `${node}added (${String(c.type)})`;
    case "removed":
      return `${node}removed`;
    case "renamed":
      return `${node}renamed from “${String(c.before)}”`;
    case "config":
      return `${node}${String(c.field)}: ${fmt(c.before)} → ${fmt(c.after)}`;
    case "connected":
    case "disconnected":
      return `${String(c.change)} ${String(c.source)} → ${String(c.target)}${c.source_handle ? ` (${String(c.source_handle)})` : ""}`;
    default:
      return JSON.stringify(c);
  }
}

function fmt(value: unknown): string {
  if (value === undefined || value === null) return "—";
  const text = typeof value === "string" ? value : JSON.stringify(value);
  return text.length > 80 ? `${text.slice(0, 77)}…` : text;
}

export function ChangesTab() {
  const { ws } = useWorkspace();
  const changes = useQuery({
    queryKey: ["changes", ws],
    queryFn: async () =>
      (await call(api.GET("/api/v1/workspaces/{ws}/logs/changes", { params: { path: { ws } } }))).items,
  });
  if (changes.isPending) return <Loading />;
  if (changes.isError) return <ErrorBox error={changes.error} />;
  if (changes.data.length === 0)
    return <EmptyState title="No changes yet">Each save of a workflow is recorded here.</EmptyState>;
  return (
    <ul className="timeline">
      {changes.data.map((entry) => (
        <li key={entry.id} className="card timeline-item">
          <div className="timeline-head">
            <Link to={`/w/${ws}/workflows/${entry.workflow_id}`}>{entry.workflow_name}</Link>
            <span className="badge badge-neutral">v{entry.version}</span>
            <span className="muted small">
              {entry.actor_email ?? "someone"} · <span title={dateTime(entry.at)}>{ago(entry.at)}</span>
            </span>
          </div>
          {entry.changes.length === 0 ? (
            <div className="muted small">No node changes (name or settings only)</div>
          ) : (
            <ul className="change-list">
              {entry.changes.map((c, i) => (
                <li key={i}>{describeChange(c)}</li>
              ))}
            </ul>
          )}
        </li>
      ))}
    </ul>
  );
}
