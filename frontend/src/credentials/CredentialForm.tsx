/** The form of one credential type: create a secret, or rotate (replace) an existing secret's value. */
import { useState, type FormEvent } from "react";
import { useQueryClient } from "@tanstack/react-query";
import { api, call, errorMessage, type Schemas } from "../api/client";
import { keys, type CredentialTypeInfo } from "../api/queries";
import { Button } from "../ui/Button";
import { Field, SecretInput } from "../ui/Field";
import { ErrorBox } from "../ui/States";

export type SecretDetail = Schemas["SecretDetail"];

interface Props {
  ws: string;
  ctype: CredentialTypeInfo;
  /** Rotate this secret instead of creating one. */
  rotating?: Schemas["SecretRead"];
  submitLabel: string;
  withDescription?: boolean;
  onSaved: (secret: SecretDetail) => void;
  onCancel: () => void;
  autoFocus?: boolean;
}

export function CredentialForm({
  ws,
  ctype,
  rotating,
  submitLabel,
  withDescription,
  onSaved,
  onCancel,
  autoFocus,
}: Props) {
  const queryClient = useQueryClient();
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const [fields, setFields] = useState<Record<string, string>>(() =>
    Object.fromEntries(
      ctype.fields.map((f) => [f.name, !f.secret && rotating ? String(rotating.public_fields?.[f.name] ?? "") : ""]),
    ),
  );
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [errorField, setErrorField] = useState<string | null>(null);

  async function submit(event: FormEvent) {
    event.preventDefault();
    event.stopPropagation();
    setBusy(true);
    setError(null);
    setErrorField(null);
    try {
      const values = Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== ""));
      const saved = rotating
        ? await call(
            api.PUT("/api/v1/workspaces/{ws}/secrets/{secret_id}/value", {
              params: { path: { ws, secret_id: rotating.id } },
              body: { fields: values },
            }),
          )
        : await call(
            api.POST("/api/v1/workspaces/{ws}/secrets", {
              params: { path: { ws } },
              body: { type: ctype.key, name: name.trim(), description: description.trim(), fields: values },
            }),
          );
      // Forget the typed values at once: they are never kept, shown or sent again.
      setFields(Object.fromEntries(ctype.fields.map((f) => [f.name, ""])));
      await queryClient.invalidateQueries({ queryKey: keys.secrets(ws) });
      onSaved(saved);
    } catch (e) {
      setError(e);
      const field = (e as { problem?: { field?: string } }).problem?.field ?? null;
      setErrorField(field ? field.replace(/^fields\./, "") : null);
    } finally {
      setBusy(false);
    }
  }

  const shownAt =
    errorField && (errorField === "name" || ctype.fields.some((f) => f.name === errorField)) ? errorField : null;
  const fieldError = (fieldName: string) => (shownAt === fieldName ? errorMessage(error) : null);

  return (
    <form className="credential-form" onSubmit={submit} aria-label={`${rotating ? "Rotate" : "New"} ${ctype.name}`}>
      {!rotating && (
        <Field label="Secret name" required error={fieldError("name")}>
          {(props) => (
            <input
              {...props}
              name="secret-name"
              value={name}
              maxLength={200}
              required
              autoFocus={autoFocus}
              placeholder={`e.g. ${ctype.key.replace(/_/g, "-")}-prod`}
              onChange={(e) => setName(e.target.value)}
            />
          )}
        </Field>
      )}
      {withDescription && !rotating && (
        <Field label="Description">
          {(props) => (
            <input {...props} value={description} maxLength={2000} onChange={(e) => setDescription(e.target.value)} />
          )}
        </Field>
      )}
      {ctype.fields.map((f, index) => (
        <Field
          key={f.name}
          label={f.label}
          required={f.required || (!!rotating && f.secret)}
          hint={f.description || undefined}
          error={fieldError(f.name)}
        >
          {(props) =>
            f.choices.length > 0 ? (
              <select
                {...props}
                value={fields[f.name]}
                onChange={(e) => setFields({ ...fields, [f.name]: e.target.value })}
              >
                <option value="">Select…</option>
                {f.choices.map((c) => (
                  <option key={c}>{c}</option>
                ))}
              </select>
            ) : f.secret ? (
              <SecretInput
                {...props}
                name={`field-${f.name}`}
                value={fields[f.name]}
                required={f.required || !!rotating}
                autoFocus={autoFocus && !!rotating && index === 0}
                onChange={(e) => setFields({ ...fields, [f.name]: e.target.value })}
              />
            ) : (
              <input
                {...props}
                name={`field-${f.name}`}
                value={fields[f.name]}
                required={f.required}
                autoComplete="off"
                onChange={(e) => setFields({ ...fields, [f.name]: e.target.value })}
              />
            )
          }
        </Field>
      ))}
      {!shownAt && <ErrorBox error={error} />}
      <div className="form-actions form-actions-left">
        <Button type="submit" variant="primary" size="sm" busy={busy}>
          {submitLabel}
        </Button>
        <Button size="sm" variant="ghost" onClick={onCancel}>
          Cancel
        </Button>
      </div>
    </form>
  );
}
