/** The invitations addressed to me: accept (joins the workspace) or decline. */
import { useState } from "react";
import { useQueryClient } from "@tanstack/react-query";
import { api, call } from "../../api/client";
import { keys } from "../../api/queries";
import { ago } from "../../lib/format";
import { navigate } from "../../lib/router";
import { Button } from "../../ui/Button";
import { Loading } from "../../ui/Spinner";
import { EmptyState, ErrorBox } from "../../ui/States";
import { useToast } from "../../ui/Toast";
import { PageHeader, useMyInvitations } from "../../workspace/Shell";

export function InvitationsPage() {
  const invitations = useMyInvitations();
  const queryClient = useQueryClient();
  const toast = useToast();
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);

  async function answer(id: string, accept: boolean) {
    setBusy(id);
    setError(null);
    try {
      if (accept) {
        const workspace = await call(
          api.POST("/api/v1/invitations/{invitation_id}/accept", { params: { path: { invitation_id: id } } }),
        );
        await queryClient.invalidateQueries({ queryKey: keys.me });
        toast(`You joined ${workspace.name}`);
        navigate(`/w/${workspace.id}`);
      } else {
        await call(
          api.POST("/api/v1/invitations/{invitation_id}/decline", { params: { path: { invitation_id: id } } }),
        );
        toast("Invitation declined");
      }
      await queryClient.invalidateQueries({ queryKey: keys.myInvitations });
    } catch (e) {
      setError(e);
    } finally {
      setBusy(null);
    }
  }

  const pending = (invitations.data ?? []).filter((i) => i.status === "pending");
  return (
    <>
      <PageHeader title="Invitations" subtitle="Workspaces you have been invited to." />
      <ErrorBox error={error} />
      {invitations.isPending ? (
        <Loading />
      ) : invitations.isError ? (
        <ErrorBox error={invitations.error} onRetry={() => void invitations.refetch()} />
      ) : pending.length === 0 ? (
        <EmptyState title="No pending invitations">
          When someone invites you to a workspace, it appears here.
        </EmptyState>
      ) : (
        <ul className="invite-list">
          {pending.map((i) => (
            <li key={i.id} className="card invite-card">
              <div>
                <strong>{i.workspace_name}</strong>
                <div className="muted small">
                  as {i.role} · expires {ago(i.expires_at)}
                </div>
              </div>
              <div className="row-actions">
                <Button variant="primary" size="sm" busy={busy === i.id} onClick={() => void answer(i.id, true)}>
                  Accept
                </Button>
                <Button size="sm" disabled={busy === i.id} onClick={() => void answer(i.id, false)}>
                  Decline
                </Button>
              </div>
            </li>
          ))}
        </ul>
      )}
    </>
  );
}
