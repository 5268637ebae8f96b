import { useState, type FormEvent } from "react";
import { Button } from "../ui/Button";
import { Field } from "../ui/Field";
import { Modal } from "../ui/Modal";
import { ErrorBox } from "../ui/States";

export interface InputVariable {
  name: string;
  type?: "string" | "number" | "boolean" | "json";
  required?: boolean;
  default?: unknown;
}

/** The Manual trigger's input variables, from a workflow graph's trigger node (empty when none). */
export function manualVariables(nodes: { type: string; config?: Record<string, unknown> }[]): InputVariable[] {
  const trigger = nodes.find((n) => n.type === "manual_trigger");
  const variables = trigger?.config?.variables;
  return Array.isArray(variables) ? (variables as InputVariable[]).filter((v) => v && v.name) : [];
}

function initial(variable: InputVariable): string {
  if (variable.default === null || variable.default === undefined) return variable.type === "boolean" ? "false" : "";
  return typeof variable.default === "string" ? variable.default : JSON.stringify(variable.default);
}

function parse(variable: InputVariable, text: string): unknown {
  switch (variable.type) {
    case "number": {
      const value = Number(text);
      if (text.trim() === "" || Number.isNaN(value)) throw new Error(`'${variable.name}' must be a number.`);
      return value;
    }
    case "boolean":
      return text === "true";
    case "json":
      try {
        return JSON.parse(text);
      } catch {
        throw new Error(`'${variable.name}' must be valid JSON.`);
      }
    default:
      return text;
  }
}

interface Props {
  open: boolean;
  variables: InputVariable[];
  busy?: boolean;
  error?: unknown;
  onClose: () => void;
  onRun: (input: Record<string, unknown>) => void;
}

/** Asks for the Manual trigger's input variables before a run. */
export function RunInputDialog({ open, variables, busy, error, onClose, onRun }: Props) {
  const [values, setValues] = useState<Record<string, string>>(() =>
    Object.fromEntries(variables.map((v) => [v.name, initial(v)])),
  );
  const [problem, setProblem] = useState<string | null>(null);

  function submit(event: FormEvent) {
    event.preventDefault();
    try {
      const input: Record<string, unknown> = {};
      for (const variable of variables) {
        const text = values[variable.name] ?? "";
        if (text === "" && variable.type !== "boolean") {
          if (variable.required) throw new Error(`'${variable.name}' is required.`);
          continue;
        }
        input[variable.name] = parse(variable, text);
      }
      setProblem(null);
      onRun(input);
    } catch (e) {
      setProblem((e as Error).message);
    }
  }

  return (
    <Modal open={open} title="Run workflow" onClose={onClose}>
      <form onSubmit={submit}>
        <p className="muted">The Manual trigger passes these input variables to the run as {"{{trigger.name}}"}.</p>
        {variables.map((variable, index) => (
          <Field
            key={variable.name}
            label={variable.name}
            required={variable.required}
            hint={variable.type ?? "string"}
          >
            {(props) =>
              variable.type === "boolean" ? (
                <select
                  {...props}
                  value={values[variable.name]}
                  onChange={(e) => setValues({ ...values, [variable.name]: e.target.value })}
                >
                  <option value="true">true</option>
                  <option value="false">false</option>
                </select>
              ) : variable.type === "json" ? (
                <textarea
                  {...props}
                  className="mono"
                  rows={4}
                  value={values[variable.name]}
                  onChange={(e) => setValues({ ...values, [variable.name]: e.target.value })}
                />
              ) : (
                <input
                  {...props}
                  inputMode={variable.type === "number" ? "decimal" : undefined}
                  value={values[variable.name]}
                  autoFocus={index === 0}
                  onChange={(e) => setValues({ ...values, [variable.name]: e.target.value })}
                />
              )
            }
          </Field>
        ))}
        {problem && (
          <div className="error-box" role="alert">
            {problem}
          </div>
        )}
        <ErrorBox error={error} />
        <div className="form-actions">
          <Button onClick={onClose}>Cancel</Button>
          <Button type="submit" variant="primary" busy={busy}>
            Run
          </Button>
        </div>
      </form>
    </Modal>
  );
}
