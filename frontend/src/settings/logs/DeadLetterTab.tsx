/** Logs → Dead-letter queue: runs that failed after their retries; requeue or clear them. */
import { useState } from "react";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { api, call } from "../../api/client";
import { ago, dateTime } from "../../lib/format";
import { Link } from "../../lib/router";
import { Button } from "../../ui/Button";
import { ConfirmDialog } from "../../ui/ConfirmDialog";
import { Loading } from "../../ui/Spinner";
import { EmptyState, ErrorBox } from "../../ui/States";
import { useToast } from "../../ui/Toast";
import { useWorkspace } from "../../workspace/context";

export function DeadLetterTab() {
  const { ws, canEdit, canManage } = useWorkspace();
  const queryClient = useQueryClient();
  const toast = useToast();
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const [clearing, setClearing] = useState(false);
  const entries = useQuery({
    queryKey: ["dead-letter", ws],
    queryFn: async () =>
      (await call(api.GET("/api/v1/workspaces/{ws}/logs/dead-letter", { params: { path: { ws } } }))).items,
  });

  async function act(runId: string | null, action: "requeue" | "clear") {
    setBusy(runId ?? "all");
    setError(null);
    try {
      if (action === "requeue" && runId) {
        const queued = await call(
          api.POST("/api/v1/workspaces/{ws}/logs/dead-letter/{run_id}/requeue", {
            params: { path: { ws, run_id: runId } },
          }),
        );
        toast(`Requeued as run ${queued.id.slice(0, 8)}`);
      } else if (runId) {
        await call(
          api.DELETE("/api/v1/workspaces/{ws}/logs/dead-letter/{run_id}", { params: { path: { ws, run_id: runId } } }),
        );
        toast("Removed from the dead-letter queue");
      } else {
        const result = await call(api.DELETE("/api/v1/workspaces/{ws}/logs/dead-letter", { params: { path: { ws } } }));
        toast(`Cleared ${result.cleared} failed run${result.cleared === 1 ? "" : "s"}`);
        setClearing(false);
      }
      await queryClient.invalidateQueries({ queryKey: ["dead-letter", ws] });
      await queryClient.invalidateQueries({ queryKey: ["runs", ws] });
    } catch (e) {
      setError(e);
    } finally {
      setBusy(null);
    }
  }

  if (entries.isPending) return <Loading />;
  if (entries.isError) return <ErrorBox error={entries.error} />;
  return (
    <section>
      <p className="muted">Runs that failed after their retries. Requeue one to run it again with the same input.</p>
      <ErrorBox error={error} />
      {entries.data.length === 0 ? (
        <EmptyState title="The dead-letter queue is empty">Failed runs that need attention appear here.</EmptyState>
      ) : (
        <>
          <div className="card">
            <table className="table" aria-label="Dead-letter queue">
              <thead>
                <tr>
                  <th>Run</th>
                  <th>Workflow</th>
                  <th>Failed</th>
                  <th>Reason</th>
                  <th>
                    <span className="sr-only">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {entries.data.map((entry) => (
                  <tr key={entry.run_id}>
                    <td>
                      <Link to={`/w/${ws}/runs/${entry.run_id}`} className="mono">
                        {entry.run_id.slice(0, 8)}
                      </Link>
                      <div className="muted small">
                        {entry.trigger} · {entry.attempts} attempt{entry.attempts === 1 ? "" : "s"}
                      </div>
                    </td>
                    <td>{entry.workflow_name}</td>
                    <td title={dateTime(entry.failed_at)}>{ago(entry.failed_at)}</td>
                    <td className="cell-error">{entry.reason}</td>
                    <td className="row-actions">
                      {canEdit && (
                        <Button
                          size="sm"
                          busy={busy === entry.run_id}
                          onClick={() => void act(entry.run_id, "requeue")}
                        >
                          Requeue
                        </Button>
                      )}
                      {canManage && (
                        <Button size="sm" variant="danger-ghost" onClick={() => void act(entry.run_id, "clear")}>
                          Remove
                        </Button>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {canManage && (
            <div className="form-actions form-actions-left">
              <Button variant="danger-ghost" onClick={() => setClearing(true)}>
                Clear the queue
              </Button>
            </div>
          )}
        </>
      )}
      <ConfirmDialog
        open={clearing}
        title="Clear the dead-letter queue?"
        confirmLabel="Clear queue"
        danger
        busy={busy === "all"}
        error={error}
        onConfirm={() => void act(null, "clear")}
        onClose={() => setClearing(false)}
      >
        <p>The failed runs stay in the run history, but can no longer be requeued from here.</p>
      </ConfirmDialog>
    </section>
  );
}
