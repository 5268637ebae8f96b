/** Logs → Runs: executed runs, filtered by status and workflow. */
import { useState } from "react";
import { ago, dateTime } from "../../lib/format";
import { Link } from "../../lib/router";
import { useWorkflows } from "../../dashboard/api";
import { useRuns } from "../../runs/api";
import { Loading } from "../../ui/Spinner";
import { EmptyState, ErrorBox, StatusBadge } from "../../ui/States";
import { useWorkspace } from "../../workspace/context";

export function RunsTab() {
  const { ws } = useWorkspace();
  const [status, setStatus] = useState("");
  const [workflowId, setWorkflowId] = useState("");
  const workflows = useWorkflows(ws);
  const runs = useRuns(ws, { status, workflow_id: workflowId, limit: 100 });
  const names = new Map((workflows.data ?? []).map((w) => [w.id, w.name]));
  return (
    <section>
      <div className="filters">
        <label>
          Status{" "}
          <select value={status} onChange={(e) => setStatus(e.target.value)}>
            <option value="">All</option>
            {["queued", "running", "succeeded", "failed", "canceled"].map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </label>
        <label>
          Workflow{" "}
          <select value={workflowId} onChange={(e) => setWorkflowId(e.target.value)}>
            <option value="">All</option>
            {(workflows.data ?? []).map((w) => (
              <option key={w.id} value={w.id}>
                {w.name}
              </option>
            ))}
          </select>
        </label>
      </div>
      {runs.isPending ? (
        <Loading />
      ) : runs.isError ? (
        <ErrorBox error={runs.error} onRetry={() => void runs.refetch()} />
      ) : runs.data.length === 0 ? (
        <EmptyState title="No runs match">Runs appear here once a workflow is triggered.</EmptyState>
      ) : (
        <div className="card">
          <table className="table" aria-label="Runs">
            <thead>
              <tr>
                <th>Run</th>
                <th>Workflow</th>
                <th>Status</th>
                <th>Trigger</th>
                <th>Queued</th>
                <th>Error</th>
              </tr>
            </thead>
            <tbody>
              {runs.data.map((run) => (
                <tr key={run.id}>
                  <td>
                    <Link to={`/w/${ws}/runs/${run.id}`} className="mono">
                      {run.id.slice(0, 8)}
                    </Link>
                  </td>
                  <td>{names.get(run.workflow_id) ?? <span className="muted">deleted</span>}</td>
                  <td>
                    <StatusBadge status={run.status} />
                  </td>
                  <td>{run.trigger}</td>
                  <td title={dateTime(run.queued_at)}>{ago(run.queued_at)}</td>
                  <td className="cell-error">{run.error}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
