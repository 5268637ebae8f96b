/** Which credential types a node accepts, given its current config. */
import type { NodeTypeInfo } from "../api/queries";
import { resolve, type JsonSchema } from "../schemaForm/schema";

export const CREDENTIAL_FIELD = "credential_id";

export interface Selector {
  /** The config property choosing the auth mode, e.g. "auth". */
  field: string;
  /** Its values that need a credential, and the credential type each takes. */
  types: Record<string, string>;
}

/**
 * A node type accepting several credential types picks one with an enum property whose values name them:
 * HTTP Request's `auth` "basic" | "bearer" | "header" selects http_basic | http_bearer | http_header.
 */
export function credentialSelector(kind: NodeTypeInfo): Selector | null {
  if (kind.credential_types.length < 2) return null;
  const schema = kind.config_schema as JsonSchema;
  for (const [name, raw] of Object.entries(schema.properties ?? {})) {
    const { schema: property } = resolve(name, raw, schema);
    if (!property.enum) continue;
    const types: Record<string, string> = {};
    for (const option of property.enum) {
      const match = kind.credential_types.find((key) => key.endsWith(`_${String(option)}`));
      if (match) types[String(option)] = match;
    }
    if (Object.keys(types).length > 0) return { field: name, types };
  }
  return null;
}

export function acceptedCredentialTypes(kind: NodeTypeInfo | undefined, config: Record<string, unknown>): string[] {
  if (!kind || kind.credential_types.length === 0) return [];
  const selector = credentialSelector(kind);
  if (!selector) return kind.credential_types;
  const schema = kind.config_schema as JsonSchema;
  const chosen =
    config[selector.field] ?? resolve(selector.field, schema.properties![selector.field], schema).schema.default;
  const type = selector.types[String(chosen)];
  return type ? [type] : [];
}

/** "needs a credential" when the node takes one and has none, or the one it names no longer exists. */
export function credentialProblem(
  kind: NodeTypeInfo | undefined,
  config: Record<string, unknown>,
  secrets: { id: string; type: string }[] | undefined,
): string | null {
  const accepted = acceptedCredentialTypes(kind, config);
  if (accepted.length === 0) return null;
  const id = config[CREDENTIAL_FIELD];
  if (typeof id !== "string" || id === "") return "needs a credential";
  if (secrets && !secrets.some((s) => s.id === id && accepted.includes(s.type))) return "needs a credential";
  return null;
}
