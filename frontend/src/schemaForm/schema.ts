/** Reading the JSON Schema that Pydantic emits for a node type's config: resolving $refs, unwrapping
 * `X | None`, and deciding which control edits each property. */

export interface JsonSchema {
  type?: string | string[];
  title?: string;
  description?: string;
  default?: unknown;
  enum?: unknown[];
  const?: unknown;
  format?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
  $ref?: string;
  $defs?: Record<string, JsonSchema>;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  pattern?: string;
}

export type Kind =
  | "string"
  | "text"
  | "number"
  | "integer"
  | "boolean"
  | "enum"
  | "key-value"
  | "string-list"
  | "object-list"
  | "object"
  | "json";

export interface Resolved {
  schema: JsonSchema;
  nullable: boolean;
  kind: Kind;
}

export function resolveRef(schema: JsonSchema, root: JsonSchema): JsonSchema {
  let current = schema;
  for (let guard = 0; current.$ref && guard < 20; guard++) {
    const name = current.$ref.replace(/^#\/\$defs\//, "");
    const target = root.$defs?.[name];
    if (!target) break;
    const { $ref: _ignored, ...rest } = current;
    current = { ...target, ...rest };
  }
  if (current.allOf?.length === 1) current = { ...resolveRef(current.allOf[0], root), ...current, allOf: undefined };
  return current;
}

const LONG_TEXT = /^(text|html|body|message|content|description)$/;

export function resolve(name: string, raw: JsonSchema, root: JsonSchema): Resolved {
  let schema = resolveRef(raw, root);
  let nullable = false;
  const options = schema.anyOf ?? schema.oneOf;
  if (options) {
    const real = options.filter((o) => o.type !== "null");
    nullable = real.length < options.length;
    if (real.length === 1) {
      const { anyOf: _a, oneOf: _o, ...outer } = schema;
      schema = { ...resolveRef(real[0], root), ...outer };
    } else {
      return { schema, nullable, kind: "json" };
    }
  }
  return { schema, nullable, kind: kindOf(name, schema, root) };
}

function kindOf(name: string, schema: JsonSchema, root: JsonSchema): Kind {
  if (schema.enum) return "enum";
  switch (schema.type) {
    case "string":
      return (schema.maxLength ?? 0) > 8000 || LONG_TEXT.test(name) ? "text" : "string";
    case "integer":
      return "integer";
    case "number":
      return "number";
    case "boolean":
      return "boolean";
    case "object": {
      const extra = schema.additionalProperties;
      if (!schema.properties && typeof extra === "object" && resolveRef(extra, root).type === "string") {
        return "key-value";
      }
      if (schema.properties) return "object";
      return "json";
    }
    case "array": {
      const items = schema.items ? resolveRef(schema.items, root) : {};
      if (items.type === "string" && !items.enum) return "string-list";
      if (items.type === "object" && items.properties) return "object-list";
      return "json";
    }
    default:
      return "json";
  }
}

export function label(name: string, schema: JsonSchema): string {
  if (schema.title) return schema.title;
  const words = name.replace(/_/g, " ");
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** The default values a new node's config starts with (explicit in the saved workflow). */
export function defaults(root: JsonSchema): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, raw] of Object.entries(root.properties ?? {})) {
    const { schema } = resolve(name, raw, root);
    if (schema.default !== undefined && schema.default !== null) out[name] = structuredClone(schema.default);
    else if (raw.default !== undefined && raw.default !== null) out[name] = structuredClone(raw.default);
  }
  return out;
}

/**
 * A property whose description starts with "<choice>: " (e.g. "basic: overrides the credential's username")
 * applies only when a sibling enum property has that value; returns that condition.
 */
export function condition(raw: JsonSchema, root: JsonSchema): { field: string; value: string } | null {
  const found = /^([a-z_]+): /.exec(raw.description ?? "");
  if (!found) return null;
  for (const [sibling, siblingRaw] of Object.entries(root.properties ?? {})) {
    const { schema } = resolve(sibling, siblingRaw, root);
    if (schema.enum?.includes(found[1])) return { field: sibling, value: found[1] };
  }
  return null;
}

export function hint(raw: JsonSchema): string | undefined {
  return raw.description?.replace(/^[a-z_]+: /, (prefix) => `${prefix.charAt(0).toUpperCase()}${prefix.slice(1)}`);
}
