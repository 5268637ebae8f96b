/** A form generated from a JSON Schema (a node type's `config_schema`, from its Pydantic model). */
import type { ReactNode } from "react";
import { Field } from "../ui/Field";
import { condition, label, resolve, type JsonSchema, type Resolved } from "./schema";
import { JsonEditor, KeyValueEditor, StringListEditor } from "./widgets";

type Value = Record<string, unknown>;

interface Props {
  schema: JsonSchema;
  /** The schema $defs live in (the top-level schema; nested forms pass it down). */
  root?: JsonSchema;
  value: Value;
  onChange: (next: Value) => void;
  disabled?: boolean;
  /** Messages by property path: "url", or "variables.0.name" for a nested one (from a 422's field). */
  errors?: Record<string, string>;
  /** Properties rendered by the caller instead of a generated control (e.g. credential_id). */
  custom?: Record<string, ReactNode>;
  /** Properties to place right after another one: {credential_id: "auth"}. */
  placeAfter?: Record<string, string>;
}

export function SchemaForm({ schema, root, value, onChange, disabled, errors, custom, placeAfter }: Props) {
  const top = root ?? schema;
  const required = new Set(schema.required ?? []);
  const names = order(Object.keys(schema.properties ?? {}), placeAfter ?? {});

  return (
    <div className="schema-form">
      {names.map((name) => {
        const raw = (schema.properties ?? {})[name];
        const when = condition(raw, schema);
        if (when) {
          const current = value[when.field] ?? resolve(when.field, schema.properties![when.field], top).schema.default;
          if (current !== when.value) return null;
        }
        if (custom && name in custom) return <div key={name}>{custom[name]}</div>;
        const resolved = resolve(name, raw, top);
        const description = raw.description ?? resolved.schema.description;
        const hintText = when && description ? capitalise(description.slice(when.value.length + 2)) : description;
        return (
          <Property
            key={name}
            name={name}
            resolved={resolved}
            root={top}
            value={value[name]}
            required={required.has(name)}
            hint={hintText}
            error={errors?.[name]}
            nested={nestedErrors(errors, name)}
            disabled={disabled}
            onChange={(next) => {
              const copy = { ...value };
              if (next === undefined) delete copy[name];
              else copy[name] = next;
              onChange(copy);
            }}
          />
        );
      })}
    </div>
  );
}

function order(names: string[], placeAfter: Record<string, string>): string[] {
  const out = names.filter((n) => !(n in placeAfter && names.includes(placeAfter[n])));
  for (const [name, after] of Object.entries(placeAfter)) {
    if (!names.includes(name) || !names.includes(after)) continue;
    out.splice(out.indexOf(after) + 1, 0, name);
  }
  return out;
}

/** The errors below `name`, with the `name.` prefix removed. */
function nestedErrors(errors: Record<string, string> | undefined, name: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [path, message] of Object.entries(errors ?? {})) {
    if (path.startsWith(`${name}.`)) out[path.slice(name.length + 1)] = message;
  }
  return out;
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

interface PropertyProps {
  name: string;
  resolved: Resolved;
  root: JsonSchema;
  value: unknown;
  required: boolean;
  hint?: string;
  error?: string;
  nested: Record<string, string>;
  disabled?: boolean;
  onChange: (next: unknown) => void;
}

function Property({ name, resolved, root, value, required, hint, error, nested, disabled, onChange }: PropertyProps) {
  // An error inside a list or object is shown at the item's own field; list items ("to.1") at the list.
  const nestedKeys = Object.keys(nested);
  const ownError =
    error ?? (ownsNestedErrors(resolved.kind) && nestedKeys.length > 0 ? nested[nestedKeys[0]] : undefined);
  const { schema, kind, nullable } = resolved;
  const title = label(name, schema);
  const placeholder = schema.default !== undefined && schema.default !== null ? String(schema.default) : undefined;

  if (kind === "boolean") {
    const checked = value === undefined ? schema.default === true : value === true;
    return (
      <div className={`field field-check ${error ? "field-invalid" : ""}`} data-field={name}>
        <label className="check">
          <input type="checkbox" checked={checked} disabled={disabled} onChange={(e) => onChange(e.target.checked)} />
          {title}
        </label>
        {hint && <div className="field-hint">{hint}</div>}
        {ownError && (
          <div className="field-error" role="alert">
            {ownError}
          </div>
        )}
      </div>
    );
  }

  return (
    <div data-field={name}>
      <Field
        label={title}
        required={required}
        hint={kind === "json" ? (hint ?? (looseJson(resolved) ? "Text, or a JSON value" : "JSON")) : hint}
        error={ownError}
      >
        {(control) => {
          switch (kind) {
            case "enum":
              return (
                <select
                  {...control}
                  disabled={disabled}
                  value={value === undefined || value === null ? String(schema.default ?? "") : String(value)}
                  onChange={(e) => onChange(e.target.value === "" && nullable ? null : e.target.value)}
                >
                  {(nullable || schema.default === undefined) && value === undefined && (
                    <option value="">Select…</option>
                  )}
                  {schema.enum!.map((option) => (
                    <option key={String(option)} value={String(option)}>
                      {String(option)}
                    </option>
                  ))}
                </select>
              );
            case "integer":
            case "number":
              return (
                <input
                  {...control}
                  type="number"
                  inputMode={kind === "integer" ? "numeric" : "decimal"}
                  step={kind === "integer" ? 1 : "any"}
                  min={schema.minimum}
                  max={schema.maximum}
                  placeholder={placeholder}
                  disabled={disabled}
                  value={typeof value === "number" ? value : typeof value === "string" ? value : ""}
                  onChange={(e) => {
                    const text = e.target.value;
                    if (text === "") onChange(undefined);
                    else onChange(kind === "integer" ? parseInt(text, 10) : Number(text));
                  }}
                />
              );
            case "text":
              return (
                <textarea
                  {...control}
                  rows={4}
                  disabled={disabled}
                  placeholder={placeholder}
                  value={typeof value === "string" ? value : ""}
                  onChange={(e) =>
                    onChange(e.target.value === "" && !required ? (nullable ? null : undefined) : e.target.value)
                  }
                />
              );
            case "string":
              return (
                <input
                  {...control}
                  type="text"
                  disabled={disabled}
                  placeholder={placeholder}
                  maxLength={schema.maxLength}
                  value={typeof value === "string" ? value : value === undefined || value === null ? "" : String(value)}
                  onChange={(e) =>
                    onChange(e.target.value === "" && !required ? (nullable ? null : undefined) : e.target.value)
                  }
                />
              );
            case "key-value":
              return (
                <KeyValueEditor
                  {...control}
                  noun={singular(title)}
                  disabled={disabled}
                  value={value as Record<string, string> | undefined}
                  onChange={onChange}
                />
              );
            case "string-list":
              return (
                <StringListEditor
                  {...control}
                  noun={singular(title)}
                  inputType={schema.items?.format === "email" ? "email" : "text"}
                  disabled={disabled}
                  value={value as string[] | undefined}
                  onChange={onChange}
                />
              );
            case "object-list":
              return (
                <ObjectList
                  id={control.id}
                  errors={nested}
                  title={title}
                  schema={schema}
                  root={root}
                  disabled={disabled}
                  value={Array.isArray(value) ? (value as Value[]) : []}
                  onChange={onChange}
                />
              );
            case "object":
              return (
                <div id={control.id} className="nested-form">
                  <SchemaForm
                    schema={schema}
                    root={root}
                    disabled={disabled}
                    errors={nested}
                    value={(value as Value) ?? {}}
                    onChange={onChange}
                  />
                </div>
              );
            default:
              return (
                <JsonEditor
                  {...control}
                  disabled={disabled}
                  loose={looseJson(resolved)}
                  value={value}
                  onChange={onChange}
                />
              );
          }
        }}
      </Field>
    </div>
  );
}

/** A property of any type (no "type" in its schema) takes text as text and anything else as JSON. */
function looseJson(resolved: Resolved): boolean {
  return resolved.schema.type === undefined && !resolved.schema.anyOf;
}

/** Lists of plain values and free JSON have no fields of their own to show a nested error at. */
function ownsNestedErrors(kind: string): boolean {
  return kind !== "object-list" && kind !== "object";
}

function singular(title: string): string {
  return title.endsWith("s") && !title.endsWith("ss") ? title.slice(0, -1) : title;
}

function ObjectList({
  id,
  errors,
  title,
  schema,
  root,
  disabled,
  value,
  onChange,
}: {
  id: string;
  errors: Record<string, string>;
  title: string;
  schema: JsonSchema;
  root: JsonSchema;
  disabled?: boolean;
  value: Value[];
  onChange: (next: Value[]) => void;
}) {
  const itemSchema = resolve("item", schema.items ?? {}, root).schema;
  const noun = singular(title).replace(/^Input v/, "V");
  return (
    <div id={id} className="object-list">
      {value.length === 0 && <div className="muted small">None</div>}
      {value.map((item, index) => (
        <fieldset key={index} className="object-item">
          <legend>
            {noun} {index + 1}
          </legend>
          <SchemaForm
            schema={itemSchema}
            root={root}
            disabled={disabled}
            errors={nestedErrors(errors, String(index))}
            value={item}
            onChange={(next) => onChange(value.map((v, i) => (i === index ? next : v)))}
          />
          {!disabled && (
            <button
              type="button"
              className="link-button small danger"
              onClick={() => onChange(value.filter((_, i) => i !== index))}
            >
              Remove {noun.toLowerCase()} {index + 1}
            </button>
          )}
        </fieldset>
      ))}
      {!disabled && (
        <button type="button" className="link-button small" onClick={() => onChange([...value, {}])}>
          + Add {noun.toLowerCase()}
        </button>
      )}
    </div>
  );
}
