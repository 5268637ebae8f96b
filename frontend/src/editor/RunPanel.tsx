/** The run log panel under the canvas: polls the run and shows each step as recorded (redacted). */
import { Link } from "../lib/router";
import { duration } from "../lib/format";
import { CancelRunButton } from "../runs/CancelRunButton";
import { RunSteps } from "../runs/RunSteps";
import { useRun } from "../runs/api";
import { Spinner } from "../ui/Spinner";
import { ErrorBox, StatusBadge } from "../ui/States";

interface Props {
  ws: string;
  runId: string;
  onClose: () => void;
  onSelectNode: (nodeId: string) => void;
}

export function RunPanel({ ws, runId, onClose, onSelectNode }: Props) {
  const run = useRun(ws, runId);
  return (
    <section className="run-panel" aria-label="Run log">
      <header className="run-panel-header">
        <h2>Run</h2>
        {run.data && <StatusBadge status={run.data.status} />}
        {run.data && ["queued", "running"].includes(run.data.status) && <Spinner small label="Run in progress" />}
        {run.data && <span className="muted small">{duration(run.data.started_at, run.data.finished_at)}</span>}
        <span className="spacer" />
        {run.data && ["queued", "running"].includes(run.data.status) && <CancelRunButton ws={ws} runId={runId} />}
        <Link to={`/w/${ws}/runs/${runId}`} className="small">
          Open in logs
        </Link>
        <button type="button" className="icon-button" aria-label="Close run log" onClick={onClose}>
          ×
        </button>
      </header>
      <div className="run-panel-body">
        {run.isPending && <Spinner label="Loading run" />}
        <ErrorBox error={run.error} />
        {run.data?.error && (
          <div className="error-box" role="alert">
            {run.data.error}
          </div>
        )}
        {run.data && <RunSteps run={run.data} onSelectNode={onSelectNode} />}
      </div>
    </section>
  );
}
