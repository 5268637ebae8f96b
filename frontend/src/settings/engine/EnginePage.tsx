/** Settings → Engine: how many runs execute at once, and which hosts HTTP Request nodes may call. */
import { useEffect, useState, type FormEvent } from "react";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { api, call } from "../../api/client";
import { keys } from "../../api/queries";
import { Button } from "../../ui/Button";
import { Field } from "../../ui/Field";
import { Loading } from "../../ui/Spinner";
import { ErrorBox } from "../../ui/States";
import { useToast } from "../../ui/Toast";
import { useWorkspace } from "../../workspace/context";
import { PageHeader } from "../../workspace/Shell";
import { ConfirmDialog } from "../../ui/ConfirmDialog";

export function EnginePage() {
  const { ws, canManage } = useWorkspace();
  const queryClient = useQueryClient();
  const toast = useToast();
  const settings = useQuery({
    queryKey: keys.engine(ws),
    queryFn: () => call(api.GET("/api/v1/workspaces/{ws}/settings/engine", { params: { path: { ws } } })),
  });
  const [concurrency, setConcurrency] = useState("");
  const [allowlist, setAllowlist] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);

  useEffect(() => {
    if (!settings.data) return;
    setConcurrency(String(settings.data.concurrency));
    setAllowlist((settings.data.egress_allowlist ?? []).join("\n"));
  }, [settings.data]);

  async function save(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const hosts = allowlist
        .split(/[\n,]/)
        .map((h) => h.trim())
        .filter(Boolean);
      const saved = await call(
        api.PUT("/api/v1/workspaces/{ws}/settings/engine", {
          params: { path: { ws } },
          body: { concurrency: Number(concurrency), egress_allowlist: hosts },
        }),
      );
      queryClient.setQueryData(keys.engine(ws), saved);
      toast("Engine settings saved");
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  }

  return (
    <>
      <PageHeader title="Engine" subtitle="Run concurrency and network egress for this workspace." />
      {!canManage && <div className="banner banner-info">Only owners and admins can change engine settings.</div>}
      {settings.isPending ? (
        <Loading />
      ) : settings.isError ? (
        <ErrorBox error={settings.error} onRetry={() => void settings.refetch()} />
      ) : (
        <form className="card form-card" onSubmit={save} aria-label="Engine settings">
          <Field
            label="Concurrency"
            hint="Runs of this workspace executed at once (1–100); more runs wait in the queue."
          >
            {(props) => (
              <input
                {...props}
                type="number"
                min={1}
                max={100}
                required
                disabled={!canManage}
                value={concurrency}
                onChange={(e) => setConcurrency(e.target.value)}
              />
            )}
          </Field>
          <Field
            label="Egress allowlist"
            hint={
              <>
                Hosts HTTP Request nodes may call, one per line: an exact host (<code>api.example.com</code>) or all
                subdomains (<code>*.example.com</code>). Nothing is allowed by default; private and loopback addresses
                are always blocked.
              </>
            }
          >
            {(props) => (
              <textarea
                {...props}
                className="mono"
                rows={8}
                disabled={!canManage}
                value={allowlist}
                placeholder={"api.example.com\n*.example.org"}
                onChange={(e) => setAllowlist(e.target.value)}
              />
            )}
          </Field>
          <ErrorBox error={error} />
          {canManage && (
            <div className="form-actions form-actions-left">
              <Button type="submit" variant="primary" busy={busy}>
                Save settings
              </Button>
            </div>
          )}
        </form>
      )}
      {canManage && <CancelAll />}
    </>
  );
}

function CancelAll() {
  const { ws } = useWorkspace();
  const queryClient = useQueryClient();
  const toast = useToast();
  const [open, setOpen] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);

  async function cancelAll() {
    setBusy(true);
    setError(null);
    try {
      const result = await call(api.POST("/api/v1/workspaces/{ws}/runs/cancel-all", { params: { path: { ws } } }));
      setOpen(false);
      toast(`Canceled ${result.canceled_running} running and ${result.canceled_queued} queued run(s)`, "info");
      await queryClient.invalidateQueries({ queryKey: ["runs", ws] });
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  }

  return (
    <section className="section card form-card danger-zone">
      <h2>Stop everything</h2>
      <p className="muted">Cancel every queued and running run of this workspace, for example after a bad deploy.</p>
      <Button variant="danger" onClick={() => setOpen(true)}>
        Cancel all runs
      </Button>
      <ConfirmDialog
        open={open}
        title="Cancel all runs?"
        confirmLabel="Cancel all runs"
        danger
        busy={busy}
        error={error}
        onConfirm={() => void cancelAll()}
        onClose={() => setOpen(false)}
      >
        <p>Running nodes are stopped where they are; queued runs never start. Triggers keep working.</p>
      </ConfirmDialog>
    </section>
  );
}
