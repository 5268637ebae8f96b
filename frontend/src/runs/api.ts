import { useEffect } from "react";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { api, call, type Schemas } from "../api/client";
import { keys } from "../api/queries";

export type Run = Schemas["RunRead"];
export type RunSummary = Schemas["RunSummary"];
export type Step = Schemas["StepRead"];

export const ACTIVE = new Set(["queued", "running"]);

/** One run, polled every second while it is queued or running. */
export function useRun(ws: string, runId: string | null) {
  const queryClient = useQueryClient();
  const run = useQuery({
    queryKey: keys.run(ws, runId ?? ""),
    queryFn: () =>
      call(api.GET("/api/v1/workspaces/{ws}/runs/{run_id}", { params: { path: { ws, run_id: runId ?? "" } } })),
    enabled: runId !== null,
    refetchInterval: (query) => (query.state.data && !ACTIVE.has(query.state.data.status) ? false : 1000),
    staleTime: 0,
  });
  const finished = run.data && !ACTIVE.has(run.data.status);
  useEffect(() => {
    // A finished run changed the runs list and the "last used" of the secrets it used.
    if (!finished) return;
    void queryClient.invalidateQueries({ queryKey: ["runs", ws], exact: false, refetchType: "active" });
    void queryClient.invalidateQueries({ queryKey: keys.secrets(ws) });
  }, [finished, queryClient, ws]);
  return run;
}

export function useRuns(ws: string, filter: { status?: string; workflow_id?: string; limit?: number } = {}) {
  return useQuery({
    queryKey: keys.runs(ws, {
      status: filter.status,
      workflow_id: filter.workflow_id,
      limit: String(filter.limit ?? ""),
    }),
    queryFn: async () =>
      (
        await call(
          api.GET("/api/v1/workspaces/{ws}/runs", {
            params: {
              path: { ws },
              query: {
                status: filter.status || undefined,
                workflow_id: filter.workflow_id || undefined,
                limit: filter.limit,
              },
            },
          }),
        )
      ).items,
    refetchInterval: (query) => (query.state.data?.some((r) => ACTIVE.has(r.status)) ? 1500 : false),
  });
}

export async function startRun(ws: string, workflowId: string, input: Record<string, unknown>) {
  return call(
    api.POST("/api/v1/workspaces/{ws}/workflows/{workflow_id}/runs", {
      params: { path: { ws, workflow_id: workflowId } },
      body: { input },
    }),
  );
}

export async function cancelRun(ws: string, runId: string) {
  return call(api.POST("/api/v1/workspaces/{ws}/runs/{run_id}/cancel", { params: { path: { ws, run_id: runId } } }));
}
