/** Shared queries: who I am, the catalogue of node and credential types, the workspace's secrets. */
import { QueryClient, useQuery } from "@tanstack/react-query";
import { api, ApiError, call, type Schemas } from "./client";

export const queryClient = new QueryClient({
  defaultOptions: {
    queries: {
      retry: (count, error) => !(error instanceof ApiError && error.status >= 400 && error.status < 500) && count < 2,
      refetchOnWindowFocus: false,
      staleTime: 5_000,
    },
  },
});

export const keys = {
  me: ["me"] as const,
  nodeTypes: ["node-types"] as const,
  credentialTypes: ["credential-types"] as const,
  secrets: (ws: string) => ["secrets", ws] as const,
  secret: (ws: string, id: string) => ["secrets", ws, "detail", id] as const,
  workflows: (ws: string) => ["workflows", ws] as const,
  workflow: (ws: string, id: string) => ["workflows", ws, "detail", id] as const,
  runs: (ws: string, filter: Record<string, string | undefined> = {}) => ["runs", ws, filter] as const,
  run: (ws: string, id: string) => ["runs", ws, "detail", id] as const,
  members: (ws: string) => ["members", ws] as const,
  invitations: (ws: string) => ["invitations", ws] as const,
  myInvitations: ["my-invitations"] as const,
  engine: (ws: string) => ["engine", ws] as const,
};

export type Me = Schemas["MeResponse"];
export type NodeTypeInfo = Schemas["NodeTypeRead"];
export type CredentialTypeInfo = Schemas["CredentialTypeRead"];
export type Secret = Schemas["SecretRead"];

/** The signed-in user, or null when there is no session. */
export function useMe() {
  return useQuery({
    queryKey: keys.me,
    queryFn: async (): Promise<Me | null> => {
      try {
        return await call(api.GET("/api/v1/me"));
      } catch (error) {
        if (error instanceof ApiError && error.status === 401) return null;
        throw error;
      }
    },
    staleTime: 30_000,
  });
}

export function useNodeTypes() {
  return useQuery({
    queryKey: keys.nodeTypes,
    queryFn: () => call(api.GET("/api/v1/node-types")),
    staleTime: Infinity,
  });
}

export function useCredentialTypes() {
  return useQuery({
    queryKey: keys.credentialTypes,
    queryFn: () => call(api.GET("/api/v1/credential-types")),
    staleTime: Infinity,
  });
}

/** The most the secret list API returns in one page. */
export const SECRETS_PAGE_SIZE = 500;

/** Every secret of the workspace matching the filters (metadata only: the API never returns values),
 * fetched page after page: the list API is paged by a cursor, ordered by type then name. */
export async function fetchAllSecrets(
  ws: string,
  filters: { type?: string; node_type?: string } = {},
): Promise<Secret[]> {
  const all: Secret[] = [];
  let cursor: string | undefined;
  for (;;) {
    const query = { ...filters, limit: SECRETS_PAGE_SIZE, ...(cursor ? { cursor } : {}) };
    const page = await call(api.GET("/api/v1/workspaces/{ws}/secrets", { params: { path: { ws }, query } }));
    all.push(...page.items);
    if (!page.next_cursor || page.next_cursor === cursor) return all;
    cursor = page.next_cursor;
  }
}

/** Every secret of the workspace (metadata only: the API never returns values). */
export function useSecrets(ws: string) {
  return useQuery({
    queryKey: keys.secrets(ws),
    queryFn: () => fetchAllSecrets(ws),
  });
}
