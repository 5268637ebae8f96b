import { useState } from "react";
import { duration, json, ms } from "../lib/format";
import { StatusBadge } from "../ui/States";
import type { Run, Step } from "./api";

/** Each step of a run as recorded (inputs, outputs and errors are redacted by the server). */
export function RunSteps({ run, onSelectNode }: { run: Run; onSelectNode?: (nodeId: string) => void }) {
  if (run.steps.length === 0) {
    return <p className="muted">{run.status === "queued" ? "Waiting for a worker…" : "No steps recorded yet."}</p>;
  }
  return (
    <ol className="steps">
      {run.steps.map((step) => (
        <StepItem key={`${step.seq}-${step.node_id}`} step={step} onSelectNode={onSelectNode} />
      ))}
    </ol>
  );
}

function StepItem({ step, onSelectNode }: { step: Step; onSelectNode?: (nodeId: string) => void }) {
  const [open, setOpen] = useState(step.status === "failed");
  return (
    <li className={`step step-${step.status}`} data-node-id={step.node_id}>
      <div className="step-head">
        <button type="button" className="step-toggle" aria-expanded={open} onClick={() => setOpen(!open)}>
          <span className="chevron" aria-hidden="true">
            {open ? "▾" : "▸"}
          </span>
          <span className="step-name">{step.node_name}</span>
          <span className="muted small">{step.node_type}</span>
        </button>
        <StatusBadge status={step.status} />
        <span className="muted small">
          {step.duration_ms !== undefined ? ms(step.duration_ms) : duration(step.started_at, step.finished_at)}
        </span>
        {onSelectNode && (
          <button type="button" className="link-button small" onClick={() => onSelectNode(step.node_id)}>
            Show node
          </button>
        )}
      </div>
      {step.error && <div className="step-error">{step.error}</div>}
      {open && (
        <div className="step-body">
          {step.credentials.length > 0 && (
            <div className="small">Credentials used: {step.credentials.map((c) => c.name).join(", ")}</div>
          )}
          <Payload label="Input" value={step.input} />
          <Payload label="Output" value={step.output} />
          {step.logs.length > 0 && <Payload label="Logs" value={step.logs.join("\n")} />}
        </div>
      )}
    </li>
  );
}

function Payload({ label, value }: { label: string; value: unknown }) {
  if (value === null || value === undefined) return null;
  return (
    <div className="payload">
      <div className="payload-label">{label}</div>
      <pre>{json(value)}</pre>
    </div>
  );
}
