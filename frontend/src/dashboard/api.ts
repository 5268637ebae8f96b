import { useQuery } from "@tanstack/react-query";
import { api, call, type Schemas } from "../api/client";
import { keys } from "../api/queries";

export type WorkflowSummary = Schemas["WorkflowSummary"];

export function useWorkflows(ws: string) {
  return useQuery({
    queryKey: keys.workflows(ws),
    queryFn: async () => (await call(api.GET("/api/v1/workspaces/{ws}/workflows", { params: { path: { ws } } }))).items,
  });
}

export function fetchWorkflow(ws: string, id: string) {
  return call(
    api.GET("/api/v1/workspaces/{ws}/workflows/{workflow_id}", { params: { path: { ws, workflow_id: id } } }),
  );
}
