import type { ReactNode } from "react";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { api, call } from "../api/client";
import { keys } from "../api/queries";
import { Link, navigate, useLocation } from "../lib/router";
import { useWorkspace } from "./context";
import { WorkspaceSwitcher } from "./WorkspaceSwitcher";

const NAV: { to: string; label: string; section: string }[] = [
  { to: "", label: "Workflows", section: "" },
  { to: "/settings/secrets", label: "Secrets & API Keys", section: "settings/secrets" },
  { to: "/settings/members", label: "Members", section: "settings/members" },
  { to: "/settings/engine", label: "Engine", section: "settings/engine" },
  { to: "/settings/webhooks", label: "Webhooks", section: "settings/webhooks" },
  { to: "/settings/logs", label: "Logs", section: "settings/logs" },
];

export function useMyInvitations() {
  return useQuery({
    queryKey: keys.myInvitations,
    queryFn: () => call(api.GET("/api/v1/invitations")),
  });
}

/** The app frame: sidebar with workspace switcher and navigation, content on the right. */
export function Shell({ children }: { children: ReactNode }) {
  const { ws, me, role } = useWorkspace();
  const { path } = useLocation();
  const queryClient = useQueryClient();
  const invitations = useMyInvitations();
  const pending = (invitations.data ?? []).filter((i) => i.status === "pending").length;
  const here = path.split("/").slice(3).join("/");

  async function logOut() {
    try {
      await call(api.POST("/api/v1/auth/logout"));
    } finally {
      queryClient.clear();
      queryClient.setQueryData(keys.me, null);
      navigate("/login", { replace: true });
    }
  }

  return (
    <div className="shell">
      <aside className="sidebar">
        <Link to={`/w/${ws}`} className="brand">
          <span className="brand-mark" aria-hidden="true">
            fv
          </span>
          flowvault
        </Link>
        <WorkspaceSwitcher />
        <nav aria-label="Main">
          <ul className="nav-list">
            {NAV.map((item) => {
              const active =
                item.section === ""
                  ? here === "" || here.startsWith("workflows")
                  : here.startsWith(item.section) || (item.section === "settings/logs" && here.startsWith("runs"));
              return (
                <li key={item.label}>
                  <Link
                    to={`/w/${ws}${item.to}`}
                    className={`nav-link ${active ? "active" : ""}`}
                    aria-current={active ? "page" : undefined}
                  >
                    {item.label}
                  </Link>
                </li>
              );
            })}
          </ul>
        </nav>
        <div className="sidebar-footer">
          <Link to={`/w/${ws}/invitations`} className="nav-link">
            Invitations {pending > 0 && <span className="count-pill">{pending}</span>}
          </Link>
          <div className="user-box">
            <div className="user-email" title={me.email}>
              {me.email}
            </div>
            <div className="muted small">Role here: {role}</div>
            <button type="button" className="link-button" onClick={logOut}>
              Log out
            </button>
          </div>
        </div>
      </aside>
      <main className="content">{children}</main>
    </div>
  );
}

export function PageHeader({
  title,
  subtitle,
  actions,
}: {
  title: ReactNode;
  subtitle?: ReactNode;
  actions?: ReactNode;
}) {
  return (
    <header className="page-header">
      <div>
        <h1>{title}</h1>
        {subtitle && <p className="muted">{subtitle}</p>}
      </div>
      {actions && <div className="page-actions">{actions}</div>}
    </header>
  );
}
