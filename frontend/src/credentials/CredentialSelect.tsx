/**
 * The Credentials dropdown of a node's configuration: the workspace's secrets of the types the node
 * accepts (name, creator, last use), and "+ Create new secret", which opens that type's form in place;
 * "Save & Select" stores the secret in Secrets & API Keys and selects it, without leaving the canvas.
 */
import { useEffect, useId, useRef, useState, type KeyboardEvent } from "react";
import { useQueries, useQueryClient } from "@tanstack/react-query";
import { fetchAllSecrets, keys, useCredentialTypes, type Secret } from "../api/queries";
import { ago } from "../lib/format";
import { Spinner } from "../ui/Spinner";
import { ErrorBox } from "../ui/States";
import { CredentialForm } from "./CredentialForm";

interface Props {
  ws: string;
  /** Credential type keys the node accepts with its current config. */
  accepted: string[];
  value: string | null;
  onChange: (secretId: string) => void;
  canCreate: boolean;
  disabled?: boolean;
  error?: string | null;
}

const NEEDS_ONE = "This node needs a credential: select one or create a new one.";

const CREATE = "__create__";

export function CredentialSelect({ ws, accepted, value, onChange, canCreate, disabled, error }: Props) {
  const baseId = useId();
  const queryClient = useQueryClient();
  const credentialTypes = useCredentialTypes();
  const lists = useQueries({
    queries: accepted.map((type) => ({
      queryKey: [...keys.secrets(ws), "type", type],
      queryFn: () => fetchAllSecrets(ws, { type }),
    })),
  });
  const loading = lists.some((l) => l.isPending);
  const loadError = lists.find((l) => l.isError)?.error;
  const secrets: Secret[] = lists.flatMap((l) => l.data ?? []);
  const types = (credentialTypes.data ?? []).filter((t) => accepted.includes(t.key));
  const typeNames = types.map((t) => t.name).join(" or ") || "credential";

  const [open, setOpen] = useState(false);
  const [active, setActive] = useState(0);
  const [creating, setCreating] = useState<string | null>(null);
  const rootRef = useRef<HTMLDivElement>(null);
  const listRef = useRef<HTMLUListElement>(null);
  const buttonRef = useRef<HTMLButtonElement>(null);
  const createRef = useRef<HTMLDivElement>(null);

  const options = [...secrets.map((s) => s.id), ...(canCreate ? [CREATE] : [])];
  const selected = secrets.find((s) => s.id === value);
  const missing = !!value && !loading && !loadError && !selected;

  useEffect(() => {
    if (!open) return;
    const close = (event: MouseEvent) => {
      if (!rootRef.current?.contains(event.target as Node)) setOpen(false);
    };
    document.addEventListener("mousedown", close);
    listRef.current?.focus();
    listRef.current?.scrollIntoView({ block: "nearest" });
    return () => document.removeEventListener("mousedown", close);
  }, [open]);

  useEffect(() => {
    if (creating !== null) createRef.current?.scrollIntoView({ block: "nearest" });
  }, [creating]);

  function choose(option: string) {
    setOpen(false);
    if (option === CREATE) {
      setCreating(types.length === 1 ? types[0].key : "");
      return;
    }
    onChange(option);
    buttonRef.current?.focus();
  }

  function openList() {
    if (disabled) return;
    const index = options.indexOf(value ?? "");
    setActive(index >= 0 ? index : 0);
    setOpen(true);
  }

  function onListKey(event: KeyboardEvent) {
    if (event.key === "ArrowDown") setActive((a) => Math.min(options.length - 1, a + 1));
    else if (event.key === "ArrowUp") setActive((a) => Math.max(0, a - 1));
    else if (event.key === "Home") setActive(0);
    else if (event.key === "End") setActive(options.length - 1);
    else if (event.key === "Enter" || event.key === " ") {
      if (options[active]) choose(options[active]);
    } else if (event.key === "Escape" || event.key === "Tab") {
      setOpen(false);
      if (event.key === "Escape") buttonRef.current?.focus();
      if (event.key === "Tab") return;
    } else return;
    event.preventDefault();
    event.stopPropagation();
  }

  const creatingType = types.find((t) => t.key === creating);
  const placeholder = `Select ${types.length === 1 ? types[0].name.toLowerCase() : "a credential"}`;

  return (
    <div
      className={`field credential-select ${error || missing ? "field-invalid" : ""}`}
      ref={rootRef}
      data-field="credential_id"
    >
      <div className="field-label" id={`${baseId}-label`}>
        Credentials{" "}
        <span className="required" aria-hidden="true">
          *
        </span>
      </div>
      <button
        ref={buttonRef}
        type="button"
        className="select-button"
        aria-haspopup="listbox"
        aria-expanded={open}
        aria-labelledby={`${baseId}-label ${baseId}-value`}
        disabled={disabled}
        onClick={() => (open ? setOpen(false) : openList())}
        onKeyDown={(e) => {
          if (e.key === "ArrowDown" || e.key === "ArrowUp") {
            e.preventDefault();
            openList();
          }
        }}
      >
        <span id={`${baseId}-value`} className={selected ? "" : "placeholder"}>
          {selected ? selected.name : missing ? "Deleted credential" : placeholder}
        </span>
        {loading ? (
          <Spinner small />
        ) : (
          <span className="chevron" aria-hidden="true">
            {open ? "▴" : "▾"}
          </span>
        )}
      </button>
      {open && (
        <ul
          ref={listRef}
          className="listbox"
          role="listbox"
          tabIndex={-1}
          aria-labelledby={`${baseId}-label`}
          aria-activedescendant={options[active] ? `${baseId}-opt-${active}` : undefined}
          onKeyDown={onListKey}
        >
          {secrets.length === 0 && (
            <li className="listbox-empty" role="presentation">
              No {typeNames} secrets in this workspace yet.
            </li>
          )}
          {secrets.map((secret, index) => (
            <li
              key={secret.id}
              id={`${baseId}-opt-${index}`}
              role="option"
              aria-selected={secret.id === value}
              className={`listbox-option ${index === active ? "active" : ""}`}
              onMouseEnter={() => setActive(index)}
              onClick={() => choose(secret.id)}
            >
              <span className="option-name">{secret.name}</span>
              <span className="option-meta">
                {types.length > 1 && <>{types.find((t) => t.key === secret.type)?.name} · </>}
                by {secret.created_by.email ?? "a former member"} · last used {ago(secret.last_used_at)}
              </span>
            </li>
          ))}
          {canCreate && (
            <li
              id={`${baseId}-opt-${secrets.length}`}
              role="option"
              aria-selected={false}
              className={`listbox-option listbox-create ${active === secrets.length ? "active" : ""}`}
              onMouseEnter={() => setActive(secrets.length)}
              onClick={() => choose(CREATE)}
            >
              + Create new secret
            </li>
          )}
        </ul>
      )}
      {missing && (
        <div className="field-error" role="alert">
          This node needs a credential: the one it used was deleted. Select another or create a new one.
        </div>
      )}
      {error && !missing && (
        <div className="field-error" role="alert">
          {error}
        </div>
      )}
      {!value && !error && !disabled && creating === null && <div className="field-warning">{NEEDS_ONE}</div>}
      <ErrorBox error={loadError} />
      {creating !== null && (
        <div className="inline-create" ref={createRef}>
          {types.length > 1 && (
            <label className="field">
              <span className="field-label">Credential type</span>
              <select value={creating} onChange={(e) => setCreating(e.target.value)}>
                <option value="">Select…</option>
                {types.map((t) => (
                  <option key={t.key} value={t.key}>
                    {t.name}
                  </option>
                ))}
              </select>
            </label>
          )}
          {creatingType && (
            <CredentialForm
              key={creatingType.key}
              ws={ws}
              ctype={creatingType}
              submitLabel="Save & Select"
              autoFocus
              onCancel={() => {
                setCreating(null);
                buttonRef.current?.focus();
              }}
              onSaved={(secret) => {
                queryClient.setQueryData<Secret[]>([...keys.secrets(ws), "type", secret.type], (list) =>
                  list && !list.some((s) => s.id === secret.id) ? [...list, secret] : list,
                );
                setCreating(null);
                onChange(secret.id);
              }}
            />
          )}
          {!creatingType && types.length > 1 && (
            <button type="button" className="link-button small" onClick={() => setCreating(null)}>
              Cancel
            </button>
          )}
        </div>
      )}
    </div>
  );
}
