/** Settings → Members: members and roles, invitations (role + expiry), removing members, leaving. */
import { useState, type FormEvent } from "react";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { api, call, type Schemas } from "../../api/client";
import { keys } from "../../api/queries";
import { ago, dateTime } from "../../lib/format";
import { navigate } from "../../lib/router";
import { Button } from "../../ui/Button";
import { ConfirmDialog } from "../../ui/ConfirmDialog";
import { Field } from "../../ui/Field";
import { Loading } from "../../ui/Spinner";
import { EmptyState, ErrorBox, Badge } from "../../ui/States";
import { useToast } from "../../ui/Toast";
import { useWorkspace, type Role } from "../../workspace/context";
import { PageHeader } from "../../workspace/Shell";

type Member = Schemas["MemberRead"];
const ASSIGNABLE: Role[] = ["admin", "user", "viewer"];
const ROLE_HELP: Record<Role, string> = {
  owner: "everything; cannot be removed",
  admin: "members, settings, every secret, delete workflows",
  user: "build and run workflows, create secrets, use every secret",
  viewer: "read-only; sees secret names, never values",
};

export function MembersPage() {
  const { ws, name, canManage, role, me } = useWorkspace();
  const members = useQuery({
    queryKey: keys.members(ws),
    queryFn: () => call(api.GET("/api/v1/workspaces/{ws}/members", { params: { path: { ws } } })),
  });
  const [leaving, setLeaving] = useState(false);
  const [leaveBusy, setLeaveBusy] = useState(false);
  const [leaveError, setLeaveError] = useState<unknown>(null);
  const queryClient = useQueryClient();
  const toast = useToast();

  async function leave() {
    setLeaveBusy(true);
    setLeaveError(null);
    try {
      await call(api.POST("/api/v1/workspaces/{ws}/leave", { params: { path: { ws } } }));
      setLeaving(false);
      toast(`You left ${name}`);
      await queryClient.invalidateQueries({ queryKey: keys.me });
      navigate("/", { replace: true });
    } catch (e) {
      setLeaveError(e);
    } finally {
      setLeaveBusy(false);
    }
  }

  return (
    <>
      <PageHeader
        title="Members"
        subtitle={`Who can use ${name}, and what they may do.`}
        actions={
          role !== "owner" && (
            <Button variant="danger-ghost" onClick={() => setLeaving(true)}>
              Leave workspace
            </Button>
          )
        }
      />
      {members.isPending ? (
        <Loading label="Loading members…" />
      ) : members.isError ? (
        <ErrorBox error={members.error} onRetry={() => void members.refetch()} />
      ) : (
        <section className="card">
          <table className="table" aria-label="Members">
            <thead>
              <tr>
                <th>Member</th>
                <th>Role</th>
                <th>Joined</th>
                <th>
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {members.data.map((member) => (
                <MemberRow key={member.user_id} member={member} isMe={member.user_id === me.id} editable={canManage} />
              ))}
            </tbody>
          </table>
        </section>
      )}
      <dl className="role-help">
        {(Object.keys(ROLE_HELP) as Role[]).map((r) => (
          <div key={r}>
            <dt>{r}</dt>
            <dd>{ROLE_HELP[r]}</dd>
          </div>
        ))}
      </dl>
      {canManage && <Invitations />}
      <ConfirmDialog
        open={leaving}
        title={`Leave ${name}?`}
        confirmLabel="Leave workspace"
        danger
        busy={leaveBusy}
        error={leaveError}
        onConfirm={() => void leave()}
        onClose={() => setLeaving(false)}
      >
        <p>
          You lose access to its workflows. <strong>The secrets you created in it are deleted</strong>, and nodes that
          use them will need a new credential.
        </p>
      </ConfirmDialog>
    </>
  );
}

function MemberRow({ member, isMe, editable }: { member: Member; isMe: boolean; editable: boolean }) {
  const { ws } = useWorkspace();
  const queryClient = useQueryClient();
  const toast = useToast();
  const [error, setError] = useState<unknown>(null);
  const [removing, setRemoving] = useState(false);
  const [busy, setBusy] = useState(false);
  const changeable = editable && member.role !== "owner" && !isMe;

  async function changeRole(role: Role) {
    setError(null);
    try {
      await call(
        api.PATCH("/api/v1/workspaces/{ws}/members/{user_id}", {
          params: { path: { ws, user_id: member.user_id } },
          body: { role },
        }),
      );
      toast(`${member.email} is now ${role}`);
      await queryClient.invalidateQueries({ queryKey: keys.members(ws) });
    } catch (e) {
      setError(e);
    }
  }

  async function remove() {
    setBusy(true);
    setError(null);
    try {
      const result = await call(
        api.DELETE("/api/v1/workspaces/{ws}/members/{user_id}", { params: { path: { ws, user_id: member.user_id } } }),
      );
      setRemoving(false);
      toast(`Removed ${member.email}; ${result.secrets_deleted} of their secrets deleted`);
      await queryClient.invalidateQueries({ queryKey: keys.members(ws) });
      await queryClient.invalidateQueries({ queryKey: keys.secrets(ws) });
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  }

  return (
    <tr>
      <td>
        {member.email} {isMe && <Badge>you</Badge>}
        {error !== null && !removing && <ErrorBox error={error} />}
      </td>
      <td>
        {changeable ? (
          <select
            aria-label={`Role of ${member.email}`}
            value={member.role}
            onChange={(e) => void changeRole(e.target.value as Role)}
          >
            {ASSIGNABLE.map((r) => (
              <option key={r} value={r}>
                {r}
              </option>
            ))}
          </select>
        ) : (
          <Badge tone={member.role === "owner" ? "info" : "neutral"}>{member.role}</Badge>
        )}
      </td>
      <td title={dateTime(member.joined_at)}>{ago(member.joined_at)}</td>
      <td className="row-actions">
        {changeable && (
          <Button
            size="sm"
            variant="danger-ghost"
            onClick={() => setRemoving(true)}
            aria-label={`Remove ${member.email}`}
          >
            Remove
          </Button>
        )}
        <ConfirmDialog
          open={removing}
          title={`Remove ${member.email}?`}
          confirmLabel="Remove member"
          danger
          busy={busy}
          error={error}
          onConfirm={() => void remove()}
          onClose={() => setRemoving(false)}
        >
          <p>
            They lose access at once. <strong>The secrets they created here are deleted</strong> (recorded in the audit
            log), and nodes that use them will need a new credential.
          </p>
        </ConfirmDialog>
      </td>
    </tr>
  );
}

function Invitations() {
  const { ws } = useWorkspace();
  const queryClient = useQueryClient();
  const toast = useToast();
  const invitations = useQuery({
    queryKey: keys.invitations(ws),
    queryFn: () => call(api.GET("/api/v1/workspaces/{ws}/invitations", { params: { path: { ws } } })),
  });
  const [email, setEmail] = useState("");
  const [role, setRole] = useState<Role>("user");
  const [days, setDays] = useState(7);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);

  async function invite(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await call(
        api.POST("/api/v1/workspaces/{ws}/invitations", {
          params: { path: { ws } },
          body: { email: email.trim(), role, expires_in_days: days },
        }),
      );
      toast(`Invited ${email.trim()} as ${role}`);
      setEmail("");
      await queryClient.invalidateQueries({ queryKey: keys.invitations(ws) });
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  }

  async function revoke(id: string) {
    try {
      await call(
        api.DELETE("/api/v1/workspaces/{ws}/invitations/{invitation_id}", {
          params: { path: { ws, invitation_id: id } },
        }),
      );
      toast("Invitation revoked");
      await queryClient.invalidateQueries({ queryKey: keys.invitations(ws) });
    } catch (e) {
      setError(e);
    }
  }

  const pending = (invitations.data ?? []).filter((i) => i.status === "pending");
  return (
    <section className="section">
      <h2>Invite someone</h2>
      <form className="card form-row" onSubmit={invite} aria-label="Invite a member">
        <Field label="Email" required>
          {(props) => (
            <input {...props} type="email" required value={email} onChange={(e) => setEmail(e.target.value)} />
          )}
        </Field>
        <Field label="Role">
          {(props) => (
            <select {...props} value={role} onChange={(e) => setRole(e.target.value as Role)}>
              {ASSIGNABLE.map((r) => (
                <option key={r} value={r}>
                  {r}
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field label="Expires in (days)">
          {(props) => (
            <input
              {...props}
              type="number"
              min={1}
              max={90}
              value={days}
              onChange={(e) => setDays(Number(e.target.value))}
            />
          )}
        </Field>
        <Button type="submit" variant="primary" busy={busy} disabled={!email.trim()}>
          Send invitation
        </Button>
      </form>
      <ErrorBox error={error} />
      <h2>Pending invitations</h2>
      {invitations.isPending ? (
        <Loading />
      ) : invitations.isError ? (
        <ErrorBox error={invitations.error} />
      ) : pending.length === 0 ? (
        <EmptyState title="No pending invitations" />
      ) : (
        <div className="card">
          <table className="table" aria-label="Pending invitations">
            <thead>
              <tr>
                <th>Email</th>
                <th>Role</th>
                <th>Expires</th>
                <th>
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {pending.map((i) => (
                <tr key={i.id}>
                  <td>{i.email}</td>
                  <td>{i.role}</td>
                  <td title={dateTime(i.expires_at)}>{ago(i.expires_at)}</td>
                  <td className="row-actions">
                    <Button size="sm" variant="danger-ghost" onClick={() => void revoke(i.id)}>
                      Revoke
                    </Button>
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
