import { createContext, useContext } from "react";
import type { NodeTypeInfo } from "../api/queries";

export interface NodeIssue {
  message: string;
  kind: "credential" | "validation";
}

/** What canvas nodes read besides their own (JSON-serialisable) data. */
export interface EditorState {
  catalog: Map<string, NodeTypeInfo>;
  issues: Map<string, NodeIssue>;
  stepStatus: Map<string, string>;
  readOnly: boolean;
  rename: (nodeId: string, name: string) => void;
}

export const EditorContext = createContext<EditorState | null>(null);

export function useEditor(): EditorState {
  const value = useContext(EditorContext);
  if (!value) throw new Error("useEditor outside the editor");
  return value;
}
