/** The controls a generated form uses for key/value maps, lists and free JSON. */
import { useEffect, useState } from "react";

interface ControlProps {
  id: string;
  "aria-describedby"?: string;
  "aria-invalid"?: boolean;
  disabled?: boolean;
}

export function KeyValueEditor({
  value,
  onChange,
  disabled,
  noun,
  ...control
}: ControlProps & {
  value: Record<string, string> | undefined;
  onChange: (v: Record<string, string>) => void;
  noun: string;
}) {
  // Rows are kept locally so a key can be empty or duplicated while it is being typed.
  const [rows, setRows] = useState<[string, string][]>(() => Object.entries(value ?? {}));
  useEffect(() => {
    const current = Object.fromEntries(rows.filter(([k]) => k !== ""));
    if (JSON.stringify(current) !== JSON.stringify(value ?? {})) setRows(Object.entries(value ?? {}));
  }, [value]);

  function update(next: [string, string][]) {
    setRows(next);
    onChange(Object.fromEntries(next.filter(([k]) => k !== "")));
  }

  return (
    <div
      className="kv-editor"
      role="group"
      aria-labelledby={`${control.id}-label`}
      aria-describedby={control["aria-describedby"]}
    >
      {rows.length === 0 && <div className="muted small">None</div>}
      {rows.map(([key, val], index) => (
        <div className="kv-row" key={index}>
          <input
            id={index === 0 ? control.id : undefined}
            aria-label={`${noun} name ${index + 1}`}
            placeholder="Name"
            value={key}
            disabled={disabled}
            onChange={(e) => update(rows.map((r, i) => (i === index ? [e.target.value, r[1]] : r)))}
          />
          <input
            aria-label={`${noun} value ${index + 1}`}
            placeholder="Value"
            value={val}
            disabled={disabled}
            onChange={(e) => update(rows.map((r, i) => (i === index ? [r[0], e.target.value] : r)))}
          />
          {!disabled && (
            <button
              type="button"
              className="icon-button"
              aria-label={`Remove ${noun.toLowerCase()} ${key || index + 1}`}
              onClick={() => update(rows.filter((_, i) => i !== index))}
            >
              ×
            </button>
          )}
        </div>
      ))}
      {!disabled && (
        <button type="button" className="link-button small" onClick={() => setRows([...rows, ["", ""]])}>
          + Add {noun.toLowerCase()}
        </button>
      )}
    </div>
  );
}

export function StringListEditor({
  value,
  onChange,
  disabled,
  noun,
  inputType,
  ...control
}: ControlProps & {
  value: string[] | undefined;
  onChange: (v: string[]) => void;
  noun: string;
  inputType?: string;
}) {
  const items = value ?? [];
  return (
    <div className="list-editor" role="group" aria-describedby={control["aria-describedby"]}>
      {items.length === 0 && <div className="muted small">None</div>}
      {items.map((item, index) => (
        <div className="kv-row" key={index}>
          <input
            id={index === 0 ? control.id : undefined}
            type={inputType ?? "text"}
            aria-label={`${noun} ${index + 1}`}
            value={item}
            disabled={disabled}
            onChange={(e) => onChange(items.map((v, i) => (i === index ? e.target.value : v)))}
          />
          {!disabled && (
            <button
              type="button"
              className="icon-button"
              aria-label={`Remove ${noun.toLowerCase()} ${index + 1}`}
              onClick={() => onChange(items.filter((_, i) => i !== index))}
            >
              ×
            </button>
          )}
        </div>
      ))}
      {!disabled && (
        <button type="button" className="link-button small" onClick={() => onChange([...items, ""])}>
          + Add {noun.toLowerCase()}
        </button>
      )}
    </div>
  );
}

function display(value: unknown, loose: boolean): string {
  if (value === undefined || value === null) return "";
  if (loose && typeof value === "string") return value;
  return JSON.stringify(value, null, 2);
}

/**
 * Free JSON. With `loose` (the schema allows any value, e.g. a request body), text that is not valid JSON
 * is kept as a string; otherwise invalid JSON is reported and not applied.
 */
export function JsonEditor({
  value,
  onChange,
  disabled,
  loose,
  ...control
}: ControlProps & { value: unknown; onChange: (v: unknown) => void; loose: boolean }) {
  const [text, setText] = useState(() => display(value, loose));
  const [invalid, setInvalid] = useState(false);
  useEffect(() => {
    // Follow outside changes (undo, reload) without fighting the user's own typing.
    let parsed: unknown;
    try {
      parsed = text.trim() === "" ? undefined : JSON.parse(text);
    } catch {
      parsed = loose ? text : Symbol.for("invalid");
    }
    if (JSON.stringify(parsed) !== JSON.stringify(value)) setText(display(value, loose));
  }, [value]);

  function change(next: string) {
    setText(next);
    if (next.trim() === "") {
      setInvalid(false);
      onChange(undefined);
      return;
    }
    try {
      onChange(JSON.parse(next));
      setInvalid(false);
    } catch {
      if (loose) {
        setInvalid(false);
        onChange(next);
      } else setInvalid(true);
    }
  }

  return (
    <>
      <textarea
        {...control}
        className="mono"
        rows={Math.min(10, Math.max(3, text.split("\n").length))}
        value={text}
        disabled={disabled}
        spellCheck={false}
        onChange={(e) => change(e.target.value)}
      />
      {invalid && <div className="field-error">Not valid JSON yet: the last valid value is kept.</div>}
    </>
  );
}
