/** The one canvas node component: title (double-click to rename), type, problems, run status, handles. */
import { memo, useEffect, useRef, useState } from "react";
import { Handle, Position, type NodeProps } from "@xyflow/react";
import { useEditor } from "./EditorContext";
import type { FlowNode as FlowNodeType } from "./graph";
import { CategoryIcon } from "./icons";

function FlowNodeComponent({ id, data, selected }: NodeProps<FlowNodeType>) {
  const { catalog, issues, stepStatus, readOnly, rename } = useEditor();
  const kind = catalog.get(data.typeKey);
  const issue = issues.get(id);
  const status = stepStatus.get(id);
  const [editing, setEditing] = useState(false);
  const [draft, setDraft] = useState(data.name);
  const inputRef = useRef<HTMLInputElement>(null);
  const category = kind?.category ?? "action";
  const branches = kind?.branches ?? [];

  useEffect(() => {
    if (editing) inputRef.current?.select();
  }, [editing]);

  function commit() {
    const name = draft.trim();
    if (name && name !== data.name) rename(id, name);
    setEditing(false);
  }

  return (
    <div
      className={`flow-node cat-${category} ${selected ? "selected" : ""} ${issue ? "has-issue" : ""} ${status ? `run-${status}` : ""}`}
      data-testid={`node-${id}`}
      data-node-name={data.name}
    >
      {category !== "trigger" && <Handle type="target" position={Position.Left} className="handle" />}
      <div className="flow-node-head">
        <span className="node-icon" aria-hidden="true">
          <CategoryIcon category={category} typeKey={data.typeKey} />
        </span>
        <div className="flow-node-titles">
          {editing ? (
            <input
              ref={inputRef}
              className="rename-input nodrag"
              aria-label="Node name"
              value={draft}
              maxLength={200}
              onChange={(e) => setDraft(e.target.value)}
              onBlur={commit}
              onKeyDown={(e) => {
                if (e.key === "Enter") commit();
                if (e.key === "Escape") {
                  setDraft(data.name);
                  setEditing(false);
                }
                e.stopPropagation();
              }}
            />
          ) : (
            <div
              className="flow-node-title"
              title={readOnly ? data.name : "Double-click to rename"}
              onDoubleClick={() => {
                if (readOnly) return;
                setDraft(data.name);
                setEditing(true);
              }}
            >
              {data.name}
            </div>
          )}
          <div className="flow-node-type">{kind?.name ?? data.typeKey}</div>
        </div>
        {status && (
          <span
            className={`status-dot status-${status}`}
            title={`Last run: ${status}`}
            aria-label={`Last run: ${status}`}
          />
        )}
      </div>
      {issue && (
        <div className={`flow-node-issue issue-${issue.kind}`} role="note">
          ⚠ {issue.message}
        </div>
      )}
      {branches.length > 0 ? (
        <div className="branch-labels">
          {branches.map((branch, index) => (
            <div key={branch} className={`branch-label branch-${branch}`}>
              {branch}
              <Handle
                type="source"
                id={branch}
                position={Position.Right}
                className={`handle handle-${branch}`}
                style={{ top: "50%" }}
                aria-label={`${branch} output`}
                data-branch-index={index}
              />
            </div>
          ))}
        </div>
      ) : (
        <Handle type="source" position={Position.Right} className="handle" />
      )}
    </div>
  );
}

export const FlowNode = memo(FlowNodeComponent);

/** Defined once at module scope, as React Flow recommends. */
export const nodeTypes = { flow: FlowNode };
