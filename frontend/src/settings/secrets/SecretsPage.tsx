/** Settings → Secrets & API Keys: every secret of the workspace, grouped by the service and credential
 * type it belongs to; create, rotate, delete (with its impact), and where each one is used. */
import { useState } from "react";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { ApiError, api, call, type Schemas } from "../../api/client";
import {
  keys,
  useCredentialTypes,
  useNodeTypes,
  useSecrets,
  type CredentialTypeInfo,
  type Secret,
} from "../../api/queries";
import { CredentialForm } from "../../credentials/CredentialForm";
import { ago, dateTime } from "../../lib/format";
import { Link } from "../../lib/router";
import { Button } from "../../ui/Button";
import { ConfirmDialog } from "../../ui/ConfirmDialog";
import { Modal } from "../../ui/Modal";
import { Loading } from "../../ui/Spinner";
import { ErrorBox } from "../../ui/States";
import { useToast } from "../../ui/Toast";
import { useWorkspace } from "../../workspace/context";
import { PageHeader } from "../../workspace/Shell";

type Usage = Schemas["UsageRead"];

interface Group {
  key: string;
  title: string;
  types: CredentialTypeInfo[];
}

function titleCase(key: string): string {
  return key.replace(/_/g, " ").replace(/\b\w/g, (c) => c.toUpperCase());
}

export function SecretsPage() {
  const { canEdit, name } = useWorkspace();
  const credentialTypes = useCredentialTypes();
  const nodeTypes = useNodeTypes();
  const { ws } = useWorkspace();
  const secrets = useSecrets(ws);

  if (credentialTypes.isPending || secrets.isPending) return <Loading label="Loading secrets…" />;
  const error = credentialTypes.error ?? secrets.error;
  if (error || !credentialTypes.data || !secrets.data) {
    return <ErrorBox error={error} title="Could not load secrets" onRetry={() => void secrets.refetch()} />;
  }

  // One section per service (the node type that uses the credential), in catalogue order.
  const nodeOrder = (nodeTypes.data ?? []).map((n) => n.key);
  const groups = new Map<string, Group>();
  for (const ctype of credentialTypes.data) {
    const service = ctype.node_types[0] ?? ctype.key;
    const title = nodeTypes.data?.find((n) => n.key === service)?.name ?? titleCase(service);
    const group = groups.get(service) ?? { key: service, title, types: [] };
    group.types.push(ctype);
    groups.set(service, group);
  }
  const rank = (key: string) => (nodeOrder.includes(key) ? nodeOrder.indexOf(key) : 100);
  const ordered = [...groups.values()].sort((a, b) => rank(a.key) - rank(b.key) || a.title.localeCompare(b.title));
  const total = secrets.data.length;

  return (
    <>
      <PageHeader
        title="Secrets & API Keys"
        subtitle={
          <>
            {total} secret{total === 1 ? "" : "s"} in {name}. Values are encrypted and write-only: they are never shown
            again after you save them.
          </>
        }
      />
      {!canEdit && (
        <div className="banner banner-info">
          You have view-only access: you can see which secrets exist and where they are used.
        </div>
      )}
      {ordered.map((group) => (
        <section key={group.key} className="secret-group" aria-labelledby={`group-${group.key}`}>
          <h2 id={`group-${group.key}`}>{group.title}</h2>
          <p className="muted">Secrets used by the {group.title} action.</p>
          <div className="card-grid">
            {group.types.map((ctype) => (
              <CredentialTypeCard
                key={ctype.key}
                ctype={ctype}
                secrets={secrets.data.filter((s) => s.type === ctype.key)}
              />
            ))}
          </div>
        </section>
      ))}
    </>
  );
}

function CredentialTypeCard({ ctype, secrets }: { ctype: CredentialTypeInfo; secrets: Secret[] }) {
  const { ws, canEdit } = useWorkspace();
  const toast = useToast();
  const [adding, setAdding] = useState(false);
  return (
    <article className="card type-card" aria-labelledby={`type-${ctype.key}`} data-credential-type={ctype.key}>
      <header>
        <h3 id={`type-${ctype.key}`}>{ctype.name}</h3>
        <div className="muted small">{ctype.fields.map((f) => f.label).join(" · ")}</div>
      </header>
      {secrets.length === 0 ? (
        <p className="muted small empty-line">No {ctype.name} secrets yet.</p>
      ) : (
        <ul className="secret-list">
          {secrets.map((secret) => (
            <SecretRow key={secret.id} secret={secret} ctype={ctype} />
          ))}
        </ul>
      )}
      {canEdit &&
        (adding ? (
          <div className="inline-create">
            <CredentialForm
              ws={ws}
              ctype={ctype}
              withDescription
              submitLabel="Save Secret"
              autoFocus
              onCancel={() => setAdding(false)}
              onSaved={(secret) => {
                setAdding(false);
                toast(`Saved “${secret.name}”`);
              }}
            />
          </div>
        ) : (
          <Button
            size="sm"
            variant="ghost"
            className="add-secret"
            onClick={() => setAdding(true)}
            aria-label={`Add ${ctype.name} secret`}
          >
            + Add secret
          </Button>
        ))}
    </article>
  );
}

function useSecretDetail(ws: string, secret: Secret, enabled: boolean) {
  return useQuery({
    queryKey: keys.secret(ws, secret.id),
    queryFn: () =>
      call(api.GET("/api/v1/workspaces/{ws}/secrets/{secret_id}", { params: { path: { ws, secret_id: secret.id } } })),
    enabled,
  });
}

function SecretRow({ secret, ctype }: { secret: Secret; ctype: CredentialTypeInfo }) {
  const { ws, me, canEdit, canManage } = useWorkspace();
  const queryClient = useQueryClient();
  const toast = useToast();
  const used = secret.used_by_count ?? 0;
  const detail = useSecretDetail(ws, secret, used > 0);
  const [rotating, setRotating] = useState(false);
  const [deleting, setDeleting] = useState(false);
  const [busy, setBusy] = useState(false);
  const [deleteError, setDeleteError] = useState<unknown>(null);
  const [impact, setImpact] = useState<Usage[] | null>(null);
  const mayChange = canManage || (canEdit && secret.created_by.id === me.id);
  const publicFields = Object.entries(secret.public_fields ?? {});

  async function openDelete() {
    setDeleteError(null);
    setImpact(null);
    setDeleting(true);
    try {
      const fresh = await queryClient.fetchQuery({
        queryKey: keys.secret(ws, secret.id),
        queryFn: () =>
          call(
            api.GET("/api/v1/workspaces/{ws}/secrets/{secret_id}", { params: { path: { ws, secret_id: secret.id } } }),
          ),
        staleTime: 0,
      });
      setImpact(fresh.used_by);
    } catch (e) {
      setDeleteError(e);
    }
  }

  async function remove() {
    setBusy(true);
    setDeleteError(null);
    try {
      await call(
        api.DELETE("/api/v1/workspaces/{ws}/secrets/{secret_id}", {
          params: { path: { ws, secret_id: secret.id }, query: { force: (impact?.length ?? 0) > 0 } },
        }),
      );
      setDeleting(false);
      toast(`Deleted “${secret.name}”`);
      queryClient.removeQueries({ queryKey: keys.secret(ws, secret.id) });
      await queryClient.invalidateQueries({ queryKey: keys.secrets(ws) });
    } catch (e) {
      // Someone started using it since the dialog opened: show the new impact and ask again.
      if (e instanceof ApiError && e.status === 409 && e.problem.used_by) setImpact(e.problem.used_by);
      setDeleteError(e);
    } finally {
      setBusy(false);
    }
  }

  return (
    <li className="secret-row" data-secret-name={secret.name}>
      <div className="secret-main">
        <div className="secret-title">
          <span className="secret-name">{secret.name}</span>
          <span className="masked" aria-label="value hidden">
            ••••••••
          </span>
          {secret.version > 1 && <span className="badge badge-neutral">v{secret.version}</span>}
        </div>
        {secret.description && <div className="secret-desc">{secret.description}</div>}
        {publicFields.length > 0 && (
          <div className="small muted">
            {publicFields
              .map(([k, v]) => `${ctype.fields.find((f) => f.name === k)?.label ?? k}: ${String(v)}`)
              .join(" · ")}
          </div>
        )}
        <dl className="secret-meta">
          <div>
            <dt>Created by</dt>
            <dd>{secret.created_by.email ?? "a former member"}</dd>
          </div>
          <div>
            <dt>Created</dt>
            <dd title={dateTime(secret.created_at)}>{ago(secret.created_at)}</dd>
          </div>
          <div>
            <dt>Last used</dt>
            <dd title={secret.last_used_at ? dateTime(secret.last_used_at) : undefined}>{ago(secret.last_used_at)}</dd>
          </div>
        </dl>
        <UsedBy
          ws={ws}
          count={used}
          workflows={secret.used_by_workflow_count ?? 0}
          usages={detail.data?.used_by}
          loading={detail.isPending && used > 0}
        />
      </div>
      {mayChange && (
        <div className="secret-actions">
          <Button size="sm" variant="ghost" onClick={() => setRotating(true)} aria-label={`Rotate ${secret.name}`}>
            Rotate
          </Button>
          <Button
            size="sm"
            variant="danger-ghost"
            onClick={() => void openDelete()}
            aria-label={`Delete ${secret.name}`}
          >
            Delete
          </Button>
        </div>
      )}
      <Modal open={rotating} title={`Rotate “${secret.name}”`} onClose={() => setRotating(false)}>
        <p className="muted">
          Enter the new value. The secret keeps its identity, so every workflow that uses it picks up the new value on
          its next run.
        </p>
        <CredentialForm
          ws={ws}
          ctype={ctype}
          rotating={secret}
          submitLabel="Replace value"
          autoFocus
          onCancel={() => setRotating(false)}
          onSaved={(saved) => {
            setRotating(false);
            toast(`Rotated “${saved.name}” (now v${saved.version})`);
          }}
        />
      </Modal>
      <ConfirmDialog
        open={deleting}
        title={`Delete “${secret.name}”?`}
        confirmLabel={impact && impact.length > 0 ? "Delete anyway" : "Delete secret"}
        danger
        busy={busy || (impact === null && deleteError === null)}
        error={deleteError}
        onConfirm={() => void remove()}
        onClose={() => setDeleting(false)}
      >
        {impact === null && deleteError === null && <p className="muted">Checking where it is used…</p>}
        {impact && impact.length === 0 && <p>No workflow uses it. It will be deleted permanently.</p>}
        {impact && impact.length > 0 && (
          <div className="impact">
            <p>
              <strong>
                It is used by {impact.length} node{impact.length > 1 ? "s" : ""} in{" "}
                {new Set(impact.map((u) => u.workflow_id)).size} workflow
                {new Set(impact.map((u) => u.workflow_id)).size > 1 ? "s" : ""}:
              </strong>
            </p>
            <ul className="impact-list">
              {impact.map((u) => (
                <li key={`${u.workflow_id}-${u.node_id}`}>
                  {u.workflow_name} → {u.node_name}
                </li>
              ))}
            </ul>
            <p>After deletion these nodes need a new credential, and their runs fail until one is selected.</p>
          </div>
        )}
      </ConfirmDialog>
    </li>
  );
}

function UsedBy({
  ws,
  count,
  workflows,
  usages,
  loading,
}: {
  ws: string;
  count: number;
  workflows: number;
  usages: Usage[] | undefined;
  loading: boolean;
}) {
  if (count === 0) return <div className="used-by muted small">Not used by any workflow</div>;
  return (
    <div className="used-by small">
      <span>
        Used by {count} node{count > 1 ? "s" : ""} in {workflows} workflow{workflows > 1 ? "s" : ""}
        {loading ? "…" : ":"}
      </span>
      {usages && (
        <ul>
          {usages.map((u) => (
            <li key={`${u.workflow_id}-${u.node_id}`}>
              <Link to={`/w/${ws}/workflows/${u.workflow_id}?node=${encodeURIComponent(u.node_id)}`}>
                {u.workflow_name} → {u.node_name}
              </Link>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
