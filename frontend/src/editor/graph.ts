/** Converting between the API's workflow graph and React Flow's nodes and edges. */
import type { Edge, Node } from "@xyflow/react";
import type { Schemas } from "../api/client";

export type FlowNodeData = {
  typeKey: string;
  name: string;
  config: Record<string, unknown>;
};
export type FlowNode = Node<FlowNodeData, "flow">;
export type ApiGraph = Schemas["Graph"];

export function fromApi(graph: ApiGraph): { nodes: FlowNode[]; edges: Edge[] } {
  const nodes: FlowNode[] = (graph.nodes ?? []).map((n) => ({
    id: n.id,
    type: "flow",
    position: { x: n.position?.x ?? 0, y: n.position?.y ?? 0 },
    data: { typeKey: n.type, name: n.name, config: n.config ?? {} },
  }));
  const edges: Edge[] = (graph.edges ?? []).map((e) => edge(e.source, e.target, e.source_handle ?? null));
  return { nodes, edges };
}

export function edge(source: string, target: string, handle: string | null): Edge {
  return {
    id: `e-${source}-${handle ?? "out"}-${target}`,
    source,
    target,
    sourceHandle: handle,
    label: handle ?? undefined,
    className: handle ? `edge-branch edge-${handle}` : undefined,
  };
}

export function toApi(nodes: FlowNode[], edges: Edge[]): ApiGraph {
  return {
    nodes: nodes.map((n) => ({
      id: n.id,
      type: n.data.typeKey,
      name: n.data.name,
      config: n.data.config,
      position: { x: Math.round(n.position.x), y: Math.round(n.position.y) },
    })),
    edges: edges.map((e) => ({ source: e.source, target: e.target, source_handle: e.sourceHandle ?? null })),
  };
}

export function newNodeId(typeKey: string): string {
  const random = Math.random().toString(36).slice(2, 8);
  return `${typeKey}_${random}`;
}

/** "HTTP Request", then "HTTP Request 2": names must differ so templates can refer to nodes. */
export function uniqueName(base: string, nodes: FlowNode[]): string {
  const taken = new Set(nodes.map((n) => n.data.name.trim().toLowerCase()));
  if (!taken.has(base.toLowerCase()) && !["trigger", "secrets"].includes(base.toLowerCase())) return base;
  for (let i = 2; ; i++) {
    const candidate = `${base} ${i}`;
    if (!taken.has(candidate.toLowerCase())) return candidate;
  }
}

/** How a node's output is referred to in templates: {{http_request.body}}. */
export function templateKey(name: string): string {
  return name
    .trim()
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "_")
    .replace(/^_+|_+$/g, "");
}
