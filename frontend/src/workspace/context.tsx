import { createContext, useContext } from "react";
import type { Me } from "../api/queries";

export type Role = "owner" | "admin" | "user" | "viewer";

export interface WorkspaceInfo {
  ws: string;
  name: string;
  role: Role;
  personal: boolean;
  me: Me;
  /** create/edit/run workflows, create secrets */
  canEdit: boolean;
  /** members, settings, delete workflows, manage every secret */
  canManage: boolean;
}

export const WorkspaceContext = createContext<WorkspaceInfo | null>(null);

export function useWorkspace(): WorkspaceInfo {
  const value = useContext(WorkspaceContext);
  if (!value) throw new Error("useWorkspace outside a workspace");
  return value;
}

export function workspaceInfo(me: Me, ws: string): WorkspaceInfo | null {
  const membership = me.workspaces.find((w) => w.id === ws);
  if (!membership) return null;
  const role = membership.role as Role;
  return {
    ws,
    name: membership.name,
    role,
    personal: membership.personal,
    me,
    canEdit: role !== "viewer",
    canManage: role === "owner" || role === "admin",
  };
}

const LAST_WORKSPACE = "flowvault.workspace";

export function rememberWorkspace(ws: string): void {
  try {
    localStorage.setItem(LAST_WORKSPACE, ws);
  } catch {
    /* storage unavailable: nothing to remember */
  }
}

export function defaultWorkspace(me: Me): string | null {
  let last: string | null = null;
  try {
    last = localStorage.getItem(LAST_WORKSPACE);
  } catch {
    last = null;
  }
  if (last && me.workspaces.some((w) => w.id === last)) return last;
  return (me.workspaces.find((w) => w.personal) ?? me.workspaces[0])?.id ?? null;
}
