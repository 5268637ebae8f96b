import { useState, type FormEvent } from "react";
import { useQueryClient } from "@tanstack/react-query";
import { api, call } from "../api/client";
import { keys } from "../api/queries";
import { ago } from "../lib/format";
import { Link, navigate } from "../lib/router";
import { RunInputDialog, manualVariables, type InputVariable } from "../runs/RunInputDialog";
import { startRun, useRuns } from "../runs/api";
import { Button } from "../ui/Button";
import { ConfirmDialog } from "../ui/ConfirmDialog";
import { Field } from "../ui/Field";
import { Modal } from "../ui/Modal";
import { Loading } from "../ui/Spinner";
import { EmptyState, ErrorBox, StatusBadge } from "../ui/States";
import { useToast } from "../ui/Toast";
import { useWorkspace } from "../workspace/context";
import { PageHeader, useMyInvitations } from "../workspace/Shell";
import { fetchWorkflow, useWorkflows, type WorkflowSummary } from "./api";

export function Dashboard() {
  const { ws, name, canEdit } = useWorkspace();
  const [creating, setCreating] = useState(false);
  return (
    <>
      <PageHeader
        title="Workflows"
        subtitle={name}
        actions={
          canEdit && (
            <Button variant="primary" onClick={() => setCreating(true)}>
              + New workflow
            </Button>
          )
        }
      />
      <InvitationBanner />
      <WorkflowList onCreate={canEdit ? () => setCreating(true) : undefined} />
      <RecentRuns ws={ws} />
      <NewWorkflowDialog open={creating} onClose={() => setCreating(false)} />
    </>
  );
}

function InvitationBanner() {
  const { ws } = useWorkspace();
  const invitations = useMyInvitations();
  const pending = (invitations.data ?? []).filter((i) => i.status === "pending");
  if (pending.length === 0) return null;
  return (
    <div className="banner">
      You have {pending.length} pending invitation{pending.length > 1 ? "s" : ""} (
      {pending.map((i) => i.workspace_name).join(", ")}). <Link to={`/w/${ws}/invitations`}>Review</Link>
    </div>
  );
}

function WorkflowList({ onCreate }: { onCreate?: () => void }) {
  const { ws, canEdit, canManage } = useWorkspace();
  const workflows = useWorkflows(ws);
  const queryClient = useQueryClient();
  const toast = useToast();
  const [deleting, setDeleting] = useState<WorkflowSummary | null>(null);
  const [deleteBusy, setDeleteBusy] = useState(false);
  const [deleteError, setDeleteError] = useState<unknown>(null);
  const [runFor, setRunFor] = useState<{ workflow: WorkflowSummary; variables: InputVariable[] } | null>(null);
  const [runBusy, setRunBusy] = useState<string | null>(null);
  const [runError, setRunError] = useState<unknown>(null);

  async function run(workflow: WorkflowSummary, input?: Record<string, unknown>) {
    setRunBusy(workflow.id);
    setRunError(null);
    try {
      if (input === undefined) {
        const full = await fetchWorkflow(ws, workflow.id);
        const variables = manualVariables(full.graph.nodes ?? []);
        if (variables.length > 0) {
          setRunFor({ workflow, variables });
          return;
        }
      }
      const queued = await startRun(ws, workflow.id, input ?? {});
      setRunFor(null);
      toast(`Run of “${workflow.name}” started`);
      await queryClient.invalidateQueries({ queryKey: ["runs", ws] });
      return queued;
    } catch (e) {
      if (runFor) setRunError(e);
      else toast((e as Error).message, "error");
    } finally {
      setRunBusy(null);
    }
  }

  async function remove() {
    if (!deleting) return;
    setDeleteBusy(true);
    setDeleteError(null);
    try {
      await call(
        api.DELETE("/api/v1/workspaces/{ws}/workflows/{workflow_id}", {
          params: { path: { ws, workflow_id: deleting.id } },
        }),
      );
      toast(`Deleted “${deleting.name}”`);
      setDeleting(null);
      await queryClient.invalidateQueries({ queryKey: keys.workflows(ws) });
      await queryClient.invalidateQueries({ queryKey: keys.secrets(ws) });
    } catch (e) {
      setDeleteError(e);
    } finally {
      setDeleteBusy(false);
    }
  }

  if (workflows.isPending) return <Loading label="Loading workflows…" />;
  if (workflows.isError) return <ErrorBox error={workflows.error} onRetry={() => workflows.refetch()} />;
  if (workflows.data.length === 0) {
    return (
      <EmptyState
        title="No workflows yet"
        action={
          onCreate && (
            <Button variant="primary" onClick={onCreate}>
              Create your first workflow
            </Button>
          )
        }
      >
        A workflow starts with a trigger and runs actions such as HTTP requests, Slack messages or emails.
      </EmptyState>
    );
  }
  return (
    <section className="card">
      <table className="table" aria-label="Workflows">
        <thead>
          <tr>
            <th>Name</th>
            <th>Nodes</th>
            <th>Version</th>
            <th>Updated</th>
            <th className="actions-col">
              <span className="sr-only">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {workflows.data.map((workflow) => (
            <tr key={workflow.id}>
              <td>
                <Link to={`/w/${ws}/workflows/${workflow.id}`} className="strong-link">
                  {workflow.name}
                </Link>
                {!workflow.enabled && <span className="muted small"> · disabled</span>}
              </td>
              <td>{workflow.node_count}</td>
              <td>v{workflow.version}</td>
              <td title={workflow.updated_at}>{ago(workflow.updated_at)}</td>
              <td className="row-actions">
                <Button size="sm" onClick={() => navigate(`/w/${ws}/workflows/${workflow.id}`)}>
                  Open
                </Button>
                {canEdit && (
                  <Button
                    size="sm"
                    busy={runBusy === workflow.id}
                    onClick={() => run(workflow)}
                    aria-label={`Run ${workflow.name}`}
                  >
                    ▶ Run
                  </Button>
                )}
                {canManage && (
                  <Button
                    size="sm"
                    variant="danger-ghost"
                    aria-label={`Delete ${workflow.name}`}
                    onClick={() => {
                      setDeleteError(null);
                      setDeleting(workflow);
                    }}
                  >
                    Delete
                  </Button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <ConfirmDialog
        open={deleting !== null}
        title="Delete workflow?"
        confirmLabel="Delete workflow"
        danger
        busy={deleteBusy}
        error={deleteError}
        onConfirm={remove}
        onClose={() => setDeleting(null)}
      >
        <p>“{deleting?.name}” will be deleted, with its webhook URL and schedule. This cannot be undone.</p>
      </ConfirmDialog>
      {runFor && (
        <RunInputDialog
          open
          variables={runFor.variables}
          busy={runBusy !== null}
          error={runError}
          onClose={() => setRunFor(null)}
          onRun={(input) => run(runFor.workflow, input)}
        />
      )}
    </section>
  );
}

function RecentRuns({ ws }: { ws: string }) {
  const runs = useRuns(ws, { limit: 10 });
  const workflows = useWorkflows(ws);
  const names = new Map((workflows.data ?? []).map((w) => [w.id, w.name]));
  return (
    <section className="section">
      <div className="section-header">
        <h2>Recent runs</h2>
        <Link to={`/w/${ws}/settings/logs`}>All runs →</Link>
      </div>
      {runs.isPending ? (
        <Loading label="Loading runs…" />
      ) : runs.isError ? (
        <ErrorBox error={runs.error} onRetry={() => runs.refetch()} />
      ) : runs.data.length === 0 ? (
        <EmptyState title="No runs yet">Run a workflow to see its result here.</EmptyState>
      ) : (
        <div className="card">
          <table className="table" aria-label="Recent runs">
            <thead>
              <tr>
                <th>Workflow</th>
                <th>Status</th>
                <th>Trigger</th>
                <th>Started</th>
                <th>
                  <span className="sr-only">Details</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {runs.data.map((run) => (
                <tr key={run.id}>
                  <td>{names.get(run.workflow_id) ?? <span className="muted">deleted workflow</span>}</td>
                  <td>
                    <StatusBadge status={run.status} />
                  </td>
                  <td>{run.trigger}</td>
                  <td title={run.queued_at}>{ago(run.started_at ?? run.queued_at)}</td>
                  <td className="row-actions">
                    <Link to={`/w/${ws}/runs/${run.id}`}>Details</Link>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

function NewWorkflowDialog({ open, onClose }: { open: boolean; onClose: () => void }) {
  const { ws } = useWorkspace();
  const queryClient = useQueryClient();
  const [name, setName] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const created = await call(
        api.POST("/api/v1/workspaces/{ws}/workflows", {
          params: { path: { ws } },
          body: { name: name.trim(), graph: { nodes: [], edges: [] } },
        }),
      );
      await queryClient.invalidateQueries({ queryKey: keys.workflows(ws) });
      setName("");
      onClose();
      navigate(`/w/${ws}/workflows/${created.id}`);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  }

  return (
    <Modal open={open} title="New workflow" onClose={onClose}>
      <form onSubmit={submit}>
        <Field label="Name" required>
          {(props) => (
            <input
              {...props}
              name="workflow-name"
              value={name}
              onChange={(e) => setName(e.target.value)}
              required
              maxLength={200}
              placeholder="e.g. Notify on new signups"
              autoFocus
            />
          )}
        </Field>
        <ErrorBox error={error} />
        <div className="form-actions">
          <Button onClick={onClose}>Cancel</Button>
          <Button type="submit" variant="primary" busy={busy} disabled={!name.trim()}>
            Create and open
          </Button>
        </div>
      </form>
    </Modal>
  );
}
