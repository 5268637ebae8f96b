import { useState, type FormEvent } from "react";
import { useQueryClient } from "@tanstack/react-query";
import { api, call } from "../api/client";
import { keys } from "../api/queries";
import { navigate, useLocation } from "../lib/router";
import { Button } from "../ui/Button";
import { Field } from "../ui/Field";
import { Modal } from "../ui/Modal";
import { ErrorBox } from "../ui/States";
import { useWorkspace } from "./context";

const NEW = "__new__";

/** Switches to the same page in another workspace; the last choice becomes the default. */
export function WorkspaceSwitcher() {
  const { ws, me } = useWorkspace();
  const { path } = useLocation();
  const [creating, setCreating] = useState(false);

  function switchTo(next: string) {
    if (next === NEW) {
      setCreating(true);
      return;
    }
    // Stay on the same section; a workflow or run of the old workspace does not exist in the new one.
    const section = path.split("/").slice(3);
    const keep = section[0] === "settings" ? `/${section.slice(0, 2).join("/")}` : "";
    navigate(`/w/${next}${keep}`);
  }

  return (
    <div className="ws-switcher">
      <label htmlFor="ws-switcher" className="ws-switcher-label">
        Workspace
      </label>
      <select id="ws-switcher" value={ws} onChange={(e) => switchTo(e.target.value)}>
        {me.workspaces.map((w) => (
          <option key={w.id} value={w.id}>
            {w.name} · {w.role}
          </option>
        ))}
        <option value={NEW}>+ New workspace…</option>
      </select>
      <NewWorkspaceDialog open={creating} onClose={() => setCreating(false)} />
    </div>
  );
}

function NewWorkspaceDialog({ open, onClose }: { open: boolean; onClose: () => void }) {
  const queryClient = useQueryClient();
  const [name, setName] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const created = await call(api.POST("/api/v1/workspaces", { body: { name: name.trim() } }));
      await queryClient.invalidateQueries({ queryKey: keys.me });
      setName("");
      onClose();
      navigate(`/w/${created.id}`);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  }

  return (
    <Modal open={open} title="New workspace" onClose={onClose}>
      <form onSubmit={submit}>
        <p className="muted">A workspace has its own workflows, secrets, members and settings.</p>
        <Field label="Name" required>
          {(props) => (
            <input
              {...props}
              value={name}
              onChange={(e) => setName(e.target.value)}
              required
              maxLength={200}
              autoFocus
            />
          )}
        </Field>
        <ErrorBox error={error} />
        <div className="form-actions">
          <Button onClick={onClose}>Cancel</Button>
          <Button type="submit" variant="primary" busy={busy} disabled={!name.trim()}>
            Create workspace
          </Button>
        </div>
      </form>
    </Modal>
  );
}
