/** The typed API client, generated from the server's OpenAPI schema (`npm run gen` writes schema.d.ts
 * from openapi.json, which scripts/export_openapi.py exports from the server). */
import createClient, { type Middleware } from "openapi-fetch";
import type { components, paths } from "./schema";

export type Schemas = components["schemas"];

const UNSAFE = new Set(["POST", "PUT", "PATCH", "DELETE"]);
const CSRF_COOKIE = "flowvault_csrf";

export function csrfToken(): string | null {
  for (const part of document.cookie.split(";")) {
    const [name, ...rest] = part.trim().split("=");
    if (name === CSRF_COOKIE) return decodeURIComponent(rest.join("="));
  }
  return null;
}

/** An RFC 9457 problem as the server sends it; `detail` is what the user reads. */
export interface Problem {
  status: number;
  title: string;
  detail: string;
  field?: string | null;
  node_id?: string | null;
  used_by?: Schemas["UsageRead"][];
  errors?: { field: string; message: string }[];
}

export class ApiError extends Error {
  readonly problem: Problem;
  constructor(problem: Problem) {
    super(problem.detail);
    this.name = "ApiError";
    this.problem = problem;
  }
  get status(): number {
    return this.problem.status;
  }
}

function toProblem(error: unknown, response: Response): Problem {
  if (error && typeof error === "object" && "detail" in error && typeof error.detail === "string") {
    return { status: response.status, title: response.statusText, ...(error as Partial<Problem>) } as Problem;
  }
  return {
    status: response.status,
    title: response.statusText || "Error",
    detail:
      response.status >= 500
        ? "The server could not complete the request. Try again in a moment."
        : `The request failed (HTTP ${response.status}).`,
  };
}

let onUnauthenticated: () => void = () => {};
/** Called when any request answers 401: the session expired or the user logged out elsewhere. */
export function setUnauthenticatedHandler(handler: () => void): void {
  onUnauthenticated = handler;
}

const csrf: Middleware = {
  onRequest({ request }) {
    if (UNSAFE.has(request.method)) {
      const token = csrfToken();
      if (token) request.headers.set("X-CSRF-Token", token);
    }
    return request;
  },
  onResponse({ response, request }) {
    if (response.status === 401 && !request.url.includes("/auth/")) onUnauthenticated();
    return response;
  },
};

export const api = createClient<paths>({ baseUrl: "", credentials: "same-origin" });
api.use(csrf);

/** Unwraps an openapi-fetch result: the data, or an ApiError carrying the problem. */
export async function call<T>(request: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
  let result: { data?: T; error?: unknown; response: Response };
  try {
    result = await request;
  } catch {
    throw new ApiError({
      status: 0,
      title: "Network error",
      detail: "Could not reach the flowvault server. Check that it is running and try again.",
    });
  }
  if (result.error !== undefined || !result.response.ok) {
    throw new ApiError(toProblem(result.error, result.response));
  }
  return result.data as T;
}

export function errorMessage(error: unknown): string {
  if (error instanceof ApiError) return error.problem.detail;
  if (error instanceof Error) return error.message;
  return "Something went wrong.";
}
