/** The node configuration flyout: name, the form generated from the node type's config schema, and the
 * Credentials dropdown for node types that take a credential. */
import { useEffect, useState } from "react";
import type { NodeTypeInfo } from "../api/queries";
import { acceptedCredentialTypes, CREDENTIAL_FIELD, credentialSelector } from "../credentials/accepted";
import { CredentialSelect } from "../credentials/CredentialSelect";
import { SchemaForm } from "../schemaForm/SchemaForm";
import type { JsonSchema } from "../schemaForm/schema";
import { Button } from "../ui/Button";
import { Field } from "../ui/Field";
import type { NodeIssue } from "./EditorContext";
import { templateKey, type FlowNode } from "./graph";
import { CategoryIcon } from "./icons";
import { WebhookPanel } from "../webhooks/WebhookPanel";

const WEBHOOK_TRIGGER = "webhook_trigger";

export interface FieldError {
  field: string;
  message: string;
}

interface Props {
  ws: string;
  workflowId: string;
  node: FlowNode;
  kind: NodeTypeInfo | undefined;
  readOnly: boolean;
  issue?: NodeIssue;
  fieldError?: FieldError | null;
  onConfig: (config: Record<string, unknown>) => void;
  onRename: (name: string) => void;
  onDelete: () => void;
  onClose: () => void;
}

export function Flyout({
  ws,
  workflowId,
  node,
  kind,
  readOnly,
  issue,
  fieldError,
  onConfig,
  onRename,
  onDelete,
  onClose,
}: Props) {
  const [name, setName] = useState(node.data.name);
  useEffect(() => setName(node.data.name), [node.id, node.data.name]);

  const config = node.data.config;
  const schema = (kind?.config_schema ?? {}) as JsonSchema;
  const accepted = acceptedCredentialTypes(kind, config);
  const selector = kind ? credentialSelector(kind) : null;

  // "config.url" → errors.url; other fields ("config", "graph.nodes.name") show above the form.
  const errors: Record<string, string> = {};
  let general: string | null = null;
  if (fieldError) {
    const found = /^config\.(.+)$/.exec(fieldError.field);
    if (found && found[1] !== CREDENTIAL_FIELD) errors[found[1]] = fieldError.message;
    else if (!found && fieldError.field !== "graph.nodes.name") general = fieldError.message;
  }
  const credentialError = fieldError?.field === `config.${CREDENTIAL_FIELD}` ? fieldError.message : null;
  const nameError = fieldError?.field === "graph.nodes.name" ? fieldError.message : null;

  const credential =
    accepted.length > 0 ? (
      <CredentialSelect
        key={accepted.join(",")}
        ws={ws}
        accepted={accepted}
        value={typeof config[CREDENTIAL_FIELD] === "string" ? (config[CREDENTIAL_FIELD] as string) : null}
        onChange={(id) => onConfig({ ...config, [CREDENTIAL_FIELD]: id })}
        canCreate={!readOnly}
        disabled={readOnly}
        error={credentialError}
      />
    ) : null;

  function commitName() {
    const next = name.trim();
    if (next && next !== node.data.name) onRename(next);
    else setName(node.data.name);
  }

  return (
    <aside
      className="flyout"
      aria-label={`Configure ${node.data.name}`}
      onKeyDown={(event) => {
        if (event.key === "Escape" && !(event.target as HTMLElement).closest("[role=listbox]")) onClose();
      }}
    >
      <header className="flyout-header">
        <span className={`node-icon cat-${kind?.category ?? "action"}`} aria-hidden="true">
          <CategoryIcon category={kind?.category ?? "action"} typeKey={node.data.typeKey} />
        </span>
        <div className="flyout-titles">
          <h2>{node.data.name}</h2>
          <div className="muted small">
            {kind?.name ?? node.data.typeKey} · {kind?.category}
          </div>
        </div>
        <button type="button" className="icon-button" aria-label="Close configuration" onClick={onClose}>
          ×
        </button>
      </header>
      <div className="flyout-body">
        {kind?.description && <p className="muted small">{kind.description}</p>}
        {!kind && (
          <div className="error-box" role="alert">
            Unknown node type “{node.data.typeKey}”: it is not installed on this server.
          </div>
        )}
        {issue && (
          <div className={`issue-banner issue-${issue.kind}`} role="alert">
            {issue.kind === "credential" ? "⚠ This node needs a credential." : `⚠ ${issue.message}`}
          </div>
        )}
        {general && (
          <div className="error-box" role="alert">
            {general}
          </div>
        )}
        <Field
          label="Name"
          required
          error={nameError}
          hint={
            <>
              Refer to its output as <code>{`{{${templateKey(name || node.data.name)}.…}}`}</code>
            </>
          }
        >
          {(props) => (
            <input
              {...props}
              value={name}
              maxLength={200}
              disabled={readOnly}
              onChange={(e) => setName(e.target.value)}
              onBlur={commitName}
              onKeyDown={(e) => e.key === "Enter" && commitName()}
            />
          )}
        </Field>
        {kind && (
          <SchemaForm
            schema={schema}
            value={config}
            disabled={readOnly}
            errors={errors}
            onChange={(next) => {
              // Another auth mode takes another credential type: drop a selection that no longer fits.
              if (selector && next[selector.field] !== config[selector.field]) {
                const { [CREDENTIAL_FIELD]: _dropped, ...rest } = next;
                onConfig(rest);
              } else onConfig(next);
            }}
            custom={{ [CREDENTIAL_FIELD]: credential }}
            placeAfter={selector ? { [CREDENTIAL_FIELD]: selector.field } : undefined}
          />
        )}
        {node.data.typeKey === WEBHOOK_TRIGGER && <WebhookPanel ws={ws} workflowId={workflowId} canEdit={!readOnly} />}
        {!readOnly && (
          <div className="flyout-footer">
            <Button variant="danger-ghost" size="sm" onClick={onDelete}>
              Delete node
            </Button>
          </div>
        )}
      </div>
    </aside>
  );
}
