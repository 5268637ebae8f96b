/** The editor's top bar: back to the workflows, the workflow's name, version, save state, Save and Run. */
import { ApiError } from "../api/client";
import { Link } from "../lib/router";
import { Button } from "../ui/Button";

interface Props {
  ws: string;
  name: string;
  onName: (name: string) => void;
  version: number;
  dirty: boolean;
  readOnly: boolean;
  saveError: unknown;
  saving: boolean;
  starting: boolean;
  onSave: () => void;
  onRun: () => void;
}

export function EditorBar({
  ws,
  name,
  onName,
  version,
  dirty,
  readOnly,
  saveError,
  saving,
  starting,
  onSave,
  onRun,
}: Props) {
  return (
    <header className="editor-bar">
      <Link
        to={`/w/${ws}`}
        className="back-link"
        onClick={(event) => {
          if (dirty && !window.confirm("Leave without saving? Your changes to this workflow will be lost.")) {
            event.preventDefault();
          }
        }}
      >
        ← Workflows
      </Link>
      <input
        className="workflow-name"
        aria-label="Workflow name"
        value={name}
        maxLength={200}
        disabled={readOnly}
        onChange={(e) => onName(e.target.value)}
      />
      <span className="muted small">v{version}</span>
      {dirty && !readOnly && <span className="unsaved">Unsaved changes</span>}
      {readOnly && <span className="badge badge-neutral">View only</span>}
      <span className="spacer" />
      {saveError !== null && (
        <div className="bar-error" role="alert">
          {saveError instanceof ApiError ? saveError.problem.detail : String(saveError)}
        </div>
      )}
      {!readOnly && (
        <>
          <Button variant="secondary" busy={saving} onClick={onSave} title="Save (Ctrl+S)">
            Save
          </Button>
          <Button variant="primary" busy={starting} onClick={onRun}>
            ▶ Run
          </Button>
        </>
      )}
    </header>
  );
}
