import { useId, useState, type InputHTMLAttributes, type ReactNode } from "react";

interface FieldProps {
  label: ReactNode;
  hint?: ReactNode;
  error?: string | null;
  required?: boolean;
  children: (props: { id: string; "aria-describedby"?: string; "aria-invalid"?: boolean }) => ReactNode;
  className?: string;
}

/** A labelled form control with its hint and error wired up for screen readers. */
export function Field({ label, hint, error, required, children, className }: FieldProps) {
  const id = useId();
  const hintId = hint ? `${id}-hint` : undefined;
  const errorId = error ? `${id}-error` : undefined;
  const describedBy = [hintId, errorId].filter(Boolean).join(" ") || undefined;
  return (
    <div className={`field ${error ? "field-invalid" : ""} ${className ?? ""}`}>
      <label htmlFor={id} className="field-label">
        {label}
        {required && (
          <span className="required" aria-hidden="true">
            {" "}
            *
          </span>
        )}
      </label>
      {children({ id, "aria-describedby": describedBy, "aria-invalid": error ? true : undefined })}
      {hint && (
        <div id={hintId} className="field-hint">
          {hint}
        </div>
      )}
      {error && (
        <div id={errorId} className="field-error" role="alert">
          {error}
        </div>
      )}
    </div>
  );
}

type SecretInputProps = Omit<InputHTMLAttributes<HTMLInputElement>, "type">;

/** A masked input with a show/hide toggle, for secret values while they are typed. */
export function SecretInput(props: SecretInputProps) {
  const [shown, setShown] = useState(false);
  return (
    <div className="secret-input">
      <input {...props} type={shown ? "text" : "password"} autoComplete="new-password" spellCheck={false} />
      <button
        type="button"
        className="secret-toggle"
        aria-pressed={shown}
        aria-label={shown ? "Hide value" : "Show value"}
        onClick={() => setShown((v) => !v)}
      >
        {shown ? "Hide" : "Show"}
      </button>
    </div>
  );
}
