/** The workflow editor: palette, canvas, configuration flyout, save, run and the run log panel. */
import { useCallback, useEffect, useMemo, useRef, useState, type DragEvent } from "react";
import {
  Background,
  Controls,
  ReactFlow,
  ReactFlowProvider,
  useEdgesState,
  useNodesState,
  useReactFlow,
  type Connection,
  type Edge,
} from "@xyflow/react";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { ApiError, api, call } from "../api/client";
import { keys, useNodeTypes, useSecrets, type NodeTypeInfo } from "../api/queries";
import { fetchWorkflow } from "../dashboard/api";
import { Link, useLocation } from "../lib/router";
import { RunInputDialog, manualVariables } from "../runs/RunInputDialog";
import { startRun, useRun } from "../runs/api";
import { defaults, type JsonSchema } from "../schemaForm/schema";
import { Loading } from "../ui/Spinner";
import { ErrorBox } from "../ui/States";
import { useToast } from "../ui/Toast";
import { useWorkspace } from "../workspace/context";
import { EditorBar } from "./EditorBar";
import { EditorContext, type EditorState } from "./EditorContext";
import { nodeTypes } from "./FlowNode";
import { Flyout, type FieldError } from "./Flyout";
import { edge, fromApi, newNodeId, toApi, uniqueName, type ApiGraph, type FlowNode } from "./graph";
import { DRAG_TYPE, Palette } from "./Palette";
import { nodeIssues } from "./issues";
import { RunPanel } from "./RunPanel";

type Workflow = Awaited<ReturnType<typeof fetchWorkflow>>;

export function EditorPage({ workflowId }: { workflowId: string }) {
  const { ws } = useWorkspace();
  const workflow = useQuery({
    queryKey: keys.workflow(ws, workflowId),
    queryFn: () => fetchWorkflow(ws, workflowId),
    staleTime: Infinity,
  });
  const catalog = useNodeTypes();

  if (workflow.isPending || catalog.isPending) return <Loading label="Opening the editor…" />;
  if (workflow.isError || catalog.isError) {
    return (
      <main className="content narrow">
        <Link to={`/w/${ws}`}>← Workflows</Link>
        <ErrorBox error={workflow.error ?? catalog.error} title="Could not open the workflow" />
      </main>
    );
  }
  return (
    <ReactFlowProvider>
      <Editor workflow={workflow.data} catalog={catalog.data} />
    </ReactFlowProvider>
  );
}

function snapshot(name: string, graph: ApiGraph): string {
  return JSON.stringify({ name, graph });
}

/** "Node 'HTTP Request' (n1): 'url' is required" → "'url' is required" for display at the field. */
function atField(detail: string): string {
  return detail.replace(/^Node '.*?' \([^)]*\): /, "");
}

function Editor({ workflow, catalog }: { workflow: Workflow; catalog: NodeTypeInfo[] }) {
  const { ws, canEdit } = useWorkspace();
  const readOnly = !canEdit;
  const queryClient = useQueryClient();
  const toast = useToast();
  const { query } = useLocation();
  const flow = useReactFlow<FlowNode, Edge>();
  const initial = useMemo(() => fromApi(workflow.graph), [workflow]);
  const [nodes, setNodes, onNodesChange] = useNodesState<FlowNode>(initial.nodes);
  const [edges, setEdges, onEdgesChange] = useEdgesState<Edge>(initial.edges);
  const [name, setName] = useState(workflow.name);
  const [version, setVersion] = useState(workflow.version);
  const [saved, setSaved] = useState(() => snapshot(workflow.name, toApi(initial.nodes, initial.edges)));
  const [selectedId, setSelectedId] = useState<string | null>(null);
  const [fieldError, setFieldError] = useState<(FieldError & { nodeId: string }) | null>(null);
  const [saveError, setSaveError] = useState<unknown>(null);
  const [saving, setSaving] = useState(false);
  const [runId, setRunId] = useState<string | null>(null);
  const [runDialog, setRunDialog] = useState(false);
  const [starting, setStarting] = useState(false);
  const [runError, setRunError] = useState<unknown>(null);
  const canvasRef = useRef<HTMLDivElement>(null);

  const secrets = useSecrets(ws);
  const run = useRun(ws, runId);
  const byKey = useMemo(() => new Map(catalog.map((k) => [k.key, k])), [catalog]);
  const graph = useMemo(() => toApi(nodes, edges), [nodes, edges]);
  const dirty = snapshot(name, graph) !== saved;
  const selected = nodes.find((n) => n.id === selectedId) ?? null;

  const issues = useMemo(
    () => nodeIssues(nodes, byKey, secrets.data, fieldError && { ...fieldError, message: atField(fieldError.message) }),
    [nodes, byKey, secrets.data, fieldError],
  );

  const stepStatus = useMemo(
    () => new Map((run.data?.steps ?? []).map((s) => [s.node_id, s.status] as [string, string])),
    [run.data],
  );

  const selectNode = useCallback(
    (nodeId: string | null) => {
      setSelectedId(nodeId);
      setNodes((list) => list.map((n) => (n.selected === (n.id === nodeId) ? n : { ...n, selected: n.id === nodeId })));
    },
    [setNodes],
  );

  // Keyboard users select a node by focusing it (Tab) and pressing Enter: follow React Flow's selection.
  const onSelectionChange = useCallback(({ nodes: picked }: { nodes: FlowNode[] }) => {
    if (picked.length === 1) setSelectedId(picked[0].id);
    else if (picked.length === 0) setSelectedId(null);
  }, []);

  const rename = useCallback(
    (nodeId: string, next: string) => {
      setNodes((list) => list.map((n) => (n.id === nodeId ? { ...n, data: { ...n.data, name: next } } : n)));
      setFieldError((e) => (e?.nodeId === nodeId ? null : e));
    },
    [setNodes],
  );

  const context: EditorState = useMemo(
    () => ({ catalog: byKey, issues, stepStatus, readOnly, rename }),
    [byKey, issues, stepStatus, readOnly, rename],
  );

  // Deep link from "used by": #/w/<ws>/workflows/<id>?node=<node id> opens that node's configuration.
  useEffect(() => {
    const target = query.get("node");
    if (target && nodes.some((n) => n.id === target)) {
      selectNode(target);
      window.setTimeout(() => flow.fitView({ nodes: [{ id: target }], maxZoom: 1, duration: 300 }), 50);
    }
  }, []);

  useEffect(() => {
    if (!dirty) return;
    const warn = (event: BeforeUnloadEvent) => event.preventDefault();
    window.addEventListener("beforeunload", warn);
    return () => window.removeEventListener("beforeunload", warn);
  }, [dirty]);

  function addNode(typeKey: string, position?: { x: number; y: number }) {
    const kind = byKey.get(typeKey);
    if (!kind || readOnly) return;
    let at = position;
    const placedByClick = !at;
    if (!at) {
      // Pressed in the palette: to the right of the last node, or in the middle of an empty canvas.
      const last = selected ?? nodes[nodes.length - 1];
      if (last)
        at = {
          x: last.position.x + 300,
          y: last.position.y + nodes.filter((n) => n.position.x === last.position.x + 300).length * 120,
        };
      else {
        const box = canvasRef.current?.getBoundingClientRect();
        const center = box
          ? flow.screenToFlowPosition({ x: box.left + box.width / 2, y: box.top + box.height / 2 })
          : { x: 0, y: 0 };
        at = { x: center.x - 115, y: center.y - 40 };
      }
    }
    const node: FlowNode = {
      id: newNodeId(typeKey),
      type: "flow",
      position: at,
      selected: true,
      data: { typeKey, name: uniqueName(kind.name, nodes), config: defaults(kind.config_schema as JsonSchema) },
    };
    setNodes((list) => [...list.map((n) => (n.selected ? { ...n, selected: false } : n)), node]);
    // Pressed with a node selected: connect it to the new one (keyboard users cannot drag handles).
    const from = placedByClick && kind.category !== "trigger" ? selected : null;
    if (from) {
      const branches = byKey.get(from.data.typeKey)?.branches ?? [];
      const used = new Set(edges.filter((e) => e.source === from.id).map((e) => e.sourceHandle));
      const handle = branches.length > 0 ? (branches.find((b) => !used.has(b)) ?? null) : null;
      if (branches.length === 0 || handle) setEdges((list) => [...list, edge(from.id, node.id, handle)]);
    }
    setSelectedId(node.id);
    if (placedByClick) window.setTimeout(() => void flow.fitView({ maxZoom: 1, padding: 0.3, duration: 200 }), 30);
  }

  function onDrop(event: DragEvent) {
    event.preventDefault();
    const typeKey = event.dataTransfer.getData(DRAG_TYPE);
    if (!typeKey) return;
    addNode(typeKey, flow.screenToFlowPosition({ x: event.clientX - 110, y: event.clientY - 30 }));
  }

  function onConnect(connection: Connection) {
    if (connection.source === connection.target) return;
    const next = edge(connection.source, connection.target, connection.sourceHandle ?? null);
    setEdges((list) => (list.some((e) => e.id === next.id) ? list : [...list, next]));
  }

  function updateConfig(nodeId: string, config: Record<string, unknown>) {
    setNodes((list) => list.map((n) => (n.id === nodeId ? { ...n, data: { ...n.data, config } } : n)));
    setFieldError((e) => (e?.nodeId === nodeId ? null : e));
  }

  function deleteNode(nodeId: string) {
    flow.deleteElements({ nodes: [{ id: nodeId }] });
    setSelectedId(null);
  }

  async function save(): Promise<boolean> {
    setSaving(true);
    setSaveError(null);
    setFieldError(null);
    try {
      const result = await call(
        api.PUT("/api/v1/workspaces/{ws}/workflows/{workflow_id}", {
          params: { path: { ws, workflow_id: workflow.id } },
          body: { name: name.trim(), graph, version },
        }),
      );
      setVersion(result.version);
      setSaved(snapshot(name, graph));
      queryClient.setQueryData(keys.workflow(ws, workflow.id), result);
      void queryClient.invalidateQueries({ queryKey: keys.workflows(ws) });
      void queryClient.invalidateQueries({ queryKey: keys.secrets(ws) });
      void queryClient.invalidateQueries({ queryKey: ["webhook", ws, workflow.id] });
      toast("Workflow saved");
      return true;
    } catch (e) {
      setSaveError(e);
      if (e instanceof ApiError && e.problem.node_id && nodes.some((n) => n.id === e.problem.node_id)) {
        const nodeId = e.problem.node_id;
        setFieldError({ nodeId, field: e.problem.field ?? "config", message: atField(e.problem.detail) });
        selectNode(nodeId);
      }
      return false;
    } finally {
      setSaving(false);
    }
  }

  async function startRunWith(input?: Record<string, unknown>) {
    setRunError(null);
    if (dirty && !(await save())) return;
    const variables = manualVariables(graph.nodes ?? []);
    if (input === undefined && variables.length > 0) {
      setRunDialog(true);
      return;
    }
    setStarting(true);
    try {
      const queued = await startRun(ws, workflow.id, input ?? {});
      setRunDialog(false);
      setRunId(queued.id);
      void queryClient.invalidateQueries({ queryKey: ["runs", ws] });
    } catch (e) {
      if (runDialog) setRunError(e);
      else setSaveError(e);
    } finally {
      setStarting(false);
    }
  }

  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "s") {
        event.preventDefault();
        if (!readOnly && !saving) void save();
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  });

  const hasTrigger = nodes.some((n) => byKey.get(n.data.typeKey)?.category === "trigger");

  return (
    <EditorContext.Provider value={context}>
      <div className="editor">
        <EditorBar
          ws={ws}
          name={name}
          onName={setName}
          version={version}
          dirty={dirty}
          readOnly={readOnly}
          saveError={saveError}
          saving={saving}
          starting={starting}
          onSave={() => void save()}
          onRun={() => void startRunWith()}
        />
        {readOnly && (
          <div className="banner banner-info editor-banner">
            You have view-only access to this workspace: you can inspect this workflow but not change or run it.
          </div>
        )}
        <div className="editor-main">
          {!readOnly && <Palette nodeTypes={catalog} hasTrigger={hasTrigger} onAdd={(key) => addNode(key)} />}
          <div className="canvas-column">
            <div className="canvas" ref={canvasRef} onDrop={onDrop} onDragOver={(e) => e.preventDefault()}>
              <ReactFlow
                nodes={nodes}
                edges={edges}
                nodeTypes={nodeTypes}
                onNodesChange={readOnly ? undefined : onNodesChange}
                onEdgesChange={readOnly ? undefined : onEdgesChange}
                onConnect={readOnly ? undefined : onConnect}
                onNodeClick={(_event, node) => selectNode(node.id)}
                onPaneClick={() => selectNode(null)}
                onSelectionChange={onSelectionChange}
                onNodesDelete={(deleted) => deleted.some((n) => n.id === selectedId) && setSelectedId(null)}
                nodesDraggable={!readOnly}
                nodesConnectable={!readOnly}
                deleteKeyCode={readOnly ? null : ["Delete", "Backspace"]}
                fitView
                fitViewOptions={{ maxZoom: 1, padding: 0.3 }}
                proOptions={{ hideAttribution: true }}
                defaultEdgeOptions={{ type: "smoothstep" }}
                colorMode="dark"
              >
                <Background gap={20} size={1} />
                <Controls showInteractive={false} />
              </ReactFlow>
              {nodes.length === 0 && (
                <div className="canvas-empty">
                  <h2>Start with a trigger</h2>
                  <p>
                    {readOnly
                      ? "This workflow has no nodes yet."
                      : "Drag Manual from the palette onto the canvas, then add actions and connect them."}
                  </p>
                </div>
              )}
            </div>
            {runId && (
              <RunPanel ws={ws} runId={runId} onClose={() => setRunId(null)} onSelectNode={(id) => selectNode(id)} />
            )}
          </div>
          {selected && (
            <Flyout
              key={selected.id}
              ws={ws}
              workflowId={workflow.id}
              node={selected}
              kind={byKey.get(selected.data.typeKey)}
              readOnly={readOnly}
              issue={issues.get(selected.id)}
              fieldError={fieldError?.nodeId === selected.id ? fieldError : null}
              onConfig={(config) => updateConfig(selected.id, config)}
              onRename={(next) => rename(selected.id, next)}
              onDelete={() => deleteNode(selected.id)}
              onClose={() => selectNode(null)}
            />
          )}
        </div>
      </div>
      {runDialog && (
        <RunInputDialog
          open
          variables={manualVariables(graph.nodes ?? [])}
          busy={starting}
          error={runError}
          onClose={() => setRunDialog(false)}
          onRun={(input) => void startRunWith(input)}
        />
      )}
    </EditorContext.Provider>
  );
}
