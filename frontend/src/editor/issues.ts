/** What is wrong with each node, as the canvas and the flyout show it. */
import type { NodeTypeInfo } from "../api/queries";
import { credentialProblem } from "../credentials/accepted";
import type { NodeIssue } from "./EditorContext";
import type { FlowNode } from "./graph";

/** "needs a credential" for every node that lacks one, and the last save's validation error on its node. */
export function nodeIssues(
  nodes: FlowNode[],
  catalog: Map<string, NodeTypeInfo>,
  secrets: { id: string; type: string }[] | undefined,
  saveError: { nodeId: string; field: string; message: string } | null,
): Map<string, NodeIssue> {
  const issues = new Map<string, NodeIssue>();
  for (const node of nodes) {
    const problem = credentialProblem(catalog.get(node.data.typeKey), node.data.config, secrets);
    if (problem) issues.set(node.id, { kind: "credential", message: problem });
  }
  if (saveError && !saveError.field.endsWith("credential_id")) {
    issues.set(saveError.nodeId, { kind: "validation", message: saveError.message });
  }
  return issues;
}
