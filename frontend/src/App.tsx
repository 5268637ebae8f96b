import { useEffect } from "react";
import { useMe } from "./api/queries";
import { AuthPage } from "./auth/AuthPage";
import { Dashboard } from "./dashboard/Dashboard";
import { EditorPage } from "./editor/EditorPage";
import { match, navigate, useLocation } from "./lib/router";
import { InvitationsPage } from "./settings/members/InvitationsPage";
import { EnginePage } from "./settings/engine/EnginePage";
import { LogsPage } from "./settings/logs/LogsPage";
import { RunDetailPage } from "./settings/logs/RunDetailPage";
import { MembersPage } from "./settings/members/MembersPage";
import { SecretsPage } from "./settings/secrets/SecretsPage";
import { WebhooksPage } from "./settings/webhooks/WebhooksPage";
import { Loading } from "./ui/Spinner";
import { EmptyState, ErrorBox } from "./ui/States";
import { defaultWorkspace, rememberWorkspace, workspaceInfo, WorkspaceContext } from "./workspace/context";
import { Shell } from "./workspace/Shell";

function Redirect({ to }: { to: string }) {
  useEffect(() => navigate(to, { replace: true }), [to]);
  return null;
}

export function App() {
  const me = useMe();
  const { path } = useLocation();

  if (me.isPending) return <Loading label="Starting flowvault…" />;
  if (me.isError) return <ErrorBox error={me.error} title="Could not load your account" onRetry={() => me.refetch()} />;

  if (!me.data) {
    if (path === "/signup") return <AuthPage mode="signup" />;
    if (path === "/login") return <AuthPage mode="login" />;
    return <Redirect to="/login" />;
  }
  if (path === "/login" || path === "/signup" || path === "/") {
    const ws = defaultWorkspace(me.data);
    return ws ? <Redirect to={`/w/${ws}`} /> : <EmptyState title="You are not a member of any workspace." />;
  }

  const wsParams = matchPrefix(path);
  if (!wsParams) return <Redirect to="/" />;
  const info = workspaceInfo(me.data, wsParams.ws);
  if (!info) {
    return (
      <main className="content narrow">
        <EmptyState
          title="Workspace not found"
          action={
            <a className="btn btn-primary btn-md" href="#/">
              Go to my workspace
            </a>
          }
        >
          It does not exist or you are not a member of it.
        </EmptyState>
      </main>
    );
  }
  const rest = wsParams.rest;

  let page;
  let editor = null;
  let params: Record<string, string> | null;
  if (rest === "") page = <Dashboard />;
  else if ((params = match("/workflows/:id", rest))) editor = <EditorPage key={params.id} workflowId={params.id} />;
  else if (rest === "/settings/secrets") page = <SecretsPage />;
  else if (rest === "/settings/members") page = <MembersPage />;
  else if (rest === "/settings/engine") page = <EnginePage />;
  else if (rest === "/settings/webhooks") page = <WebhooksPage />;
  else if ((params = match("/settings/logs", rest) ?? match("/settings/logs/:tab", rest)))
    page = <LogsPage tab={params.tab} />;
  else if ((params = match("/runs/:id", rest))) page = <RunDetailPage runId={params.id} />;
  else if (rest === "/invitations") page = <InvitationsPage />;
  else page = <EmptyState title="Page not found">There is nothing at this address.</EmptyState>;

  return (
    <WorkspaceContext.Provider value={info}>
      <RememberWorkspace ws={info.ws} />
      {editor ?? <Shell>{page}</Shell>}
    </WorkspaceContext.Provider>
  );
}

/** The workspace last opened is where "/" goes next time. */
function RememberWorkspace({ ws }: { ws: string }) {
  useEffect(() => rememberWorkspace(ws), [ws]);
  return null;
}

function matchPrefix(path: string): { ws: string; rest: string } | null {
  const found = /^\/w\/([^/]+)(\/.*)?$/.exec(path);
  if (!found) return null;
  return { ws: decodeURIComponent(found[1]), rest: (found[2] ?? "").replace(/\/$/, "") };
}
