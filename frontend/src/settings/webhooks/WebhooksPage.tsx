/** Settings → Webhooks: HMAC signing (required or not, the signing key, the replay window), rate limits,
 * and examples of calling a workflow's webhook URL. */
import { useEffect, useState, type FormEvent } from "react";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { api, call } from "../../api/client";
import { ago } from "../../lib/format";
import { Button } from "../../ui/Button";
import { ConfirmDialog } from "../../ui/ConfirmDialog";
import { CopyButton } from "../../ui/CopyButton";
import { Field } from "../../ui/Field";
import { Loading } from "../../ui/Spinner";
import { ErrorBox } from "../../ui/States";
import { useToast } from "../../ui/Toast";
import { useWorkspace } from "../../workspace/context";
import { PageHeader } from "../../workspace/Shell";

const UNSIGNED = `curl -X POST "$WEBHOOK_URL" \\
  -H 'Content-Type: application/json' \\
  -d '{"order_id":"A-1001","amount":42}'`;

const SIGNED = `body='{"order_id":"A-1001","amount":42}'   # minified JSON: exactly the bytes you send
ts=$(date +%s)
sig=$(printf '%s.%s' "$ts" "$body" | openssl dgst -sha256 -hmac "$SIGNING_KEY" -hex | sed 's/^.* //')
curl -X POST "$WEBHOOK_URL" \\
  -H 'Content-Type: application/json' \\
  -H "X-Flowvault-Timestamp: $ts" \\
  -H "X-Flowvault-Signature: v1=$sig" \\
  -d "$body"`;

export function WebhooksPage() {
  const { ws, canManage } = useWorkspace();
  const queryClient = useQueryClient();
  const toast = useToast();
  const key = ["webhook-settings", ws];
  const settings = useQuery({
    queryKey: key,
    queryFn: () => call(api.GET("/api/v1/workspaces/{ws}/settings/webhooks", { params: { path: { ws } } })),
  });
  const [form, setForm] = useState({ hmac_required: false, replay_window_s: "300", rate_per_s: "5", burst: "20" });
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [newKey, setNewKey] = useState<string | null>(null);
  const [confirmKey, setConfirmKey] = useState(false);
  const [keyBusy, setKeyBusy] = useState(false);
  const [keyError, setKeyError] = useState<unknown>(null);

  useEffect(() => {
    if (!settings.data) return;
    setForm({
      hmac_required: settings.data.hmac_required,
      replay_window_s: String(settings.data.replay_window_s),
      rate_per_s: String(settings.data.rate_per_s),
      burst: String(settings.data.burst),
    });
  }, [settings.data]);

  async function save(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const saved = await call(
        api.PUT("/api/v1/workspaces/{ws}/settings/webhooks", {
          params: { path: { ws } },
          body: {
            hmac_required: form.hmac_required,
            replay_window_s: Number(form.replay_window_s),
            rate_per_s: Number(form.rate_per_s),
            burst: Number(form.burst),
          },
        }),
      );
      queryClient.setQueryData(key, saved);
      toast("Webhook settings saved");
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  }

  async function generateKey() {
    setKeyBusy(true);
    setKeyError(null);
    try {
      const created = await call(
        api.POST("/api/v1/workspaces/{ws}/settings/webhooks/signing-key", { params: { path: { ws } } }),
      );
      setNewKey(created.signing_key);
      setConfirmKey(false);
      await queryClient.invalidateQueries({ queryKey: key });
    } catch (e) {
      setKeyError(e);
    } finally {
      setKeyBusy(false);
    }
  }

  return (
    <>
      <PageHeader
        title="Webhooks"
        subtitle="How workflows with a Webhook trigger accept requests. Each workflow's URL is in its trigger's configuration."
      />
      {!canManage && <div className="banner banner-info">Only owners and admins can change webhook settings.</div>}
      {settings.isPending ? (
        <Loading />
      ) : settings.isError ? (
        <ErrorBox error={settings.error} onRetry={() => void settings.refetch()} />
      ) : (
        <>
          <form className="card form-card" onSubmit={save} aria-label="Webhook settings">
            <div className="field field-check">
              <label className="check">
                <input
                  type="checkbox"
                  checked={form.hmac_required}
                  disabled={!canManage}
                  onChange={(e) => setForm({ ...form, hmac_required: e.target.checked })}
                />
                Require an HMAC signature
              </label>
              <div className="field-hint">
                Requests without a valid <code>X-Flowvault-Signature</code> for a recent{" "}
                <code>X-Flowvault-Timestamp</code> are refused.
              </div>
            </div>
            <div className="form-grid">
              <Field label="Replay window (s)" hint="How far the timestamp may be from the server's clock.">
                {(props) => (
                  <input
                    {...props}
                    type="number"
                    min={10}
                    max={86400}
                    disabled={!canManage}
                    value={form.replay_window_s}
                    onChange={(e) => setForm({ ...form, replay_window_s: e.target.value })}
                  />
                )}
              </Field>
              <Field label="Rate (requests/s)" hint="Sustained, per workflow.">
                {(props) => (
                  <input
                    {...props}
                    type="number"
                    min={0.1}
                    step="any"
                    max={1000}
                    disabled={!canManage}
                    value={form.rate_per_s}
                    onChange={(e) => setForm({ ...form, rate_per_s: e.target.value })}
                  />
                )}
              </Field>
              <Field label="Burst" hint="Requests allowed at once.">
                {(props) => (
                  <input
                    {...props}
                    type="number"
                    min={1}
                    max={10000}
                    disabled={!canManage}
                    value={form.burst}
                    onChange={(e) => setForm({ ...form, burst: e.target.value })}
                  />
                )}
              </Field>
            </div>
            <ErrorBox error={error} />
            {canManage && (
              <div className="form-actions form-actions-left">
                <Button type="submit" variant="primary" busy={busy}>
                  Save settings
                </Button>
              </div>
            )}
          </form>

          <section className="section card form-card" aria-label="Signing key">
            <h2>Signing key</h2>
            <p className="muted">
              {settings.data.signing_key_set
                ? `A signing key was created ${ago(settings.data.signing_key_created_at)}. It is shown only once, when created.`
                : "No signing key yet. Create one to sign requests."}
            </p>
            {newKey && (
              <div className="once-box" role="status">
                <div className="field-label">New signing key — copy it now, it will not be shown again</div>
                <div className="copy-row">
                  <code className="url-box">{newKey}</code>
                  <CopyButton text={newKey} />
                </div>
                <Button size="sm" variant="ghost" onClick={() => setNewKey(null)}>
                  I have stored it
                </Button>
              </div>
            )}
            {canManage && !newKey && (
              <Button
                onClick={() => (settings.data.signing_key_set ? setConfirmKey(true) : void generateKey())}
                busy={keyBusy}
              >
                {settings.data.signing_key_set ? "Replace signing key" : "Create signing key"}
              </Button>
            )}
            <ErrorBox error={keyError} />
          </section>

          <section className="section">
            <h2>Examples</h2>
            <p className="muted">Unsigned (when signatures are not required):</p>
            <pre className="card pre">{UNSIGNED}</pre>
            <p className="muted">
              Signed: the signature is the hex HMAC-SHA256, keyed with the signing key, of{" "}
              <code>{"{timestamp}.{body}"}</code>.
            </p>
            <pre className="card pre">{SIGNED}</pre>
          </section>
        </>
      )}
      <ConfirmDialog
        open={confirmKey}
        title="Replace the signing key?"
        confirmLabel="Replace key"
        danger
        busy={keyBusy}
        error={keyError}
        onConfirm={() => void generateKey()}
        onClose={() => setConfirmKey(false)}
      >
        <p>Requests signed with the current key are refused from now on. Update every sender.</p>
      </ConfirmDialog>
    </>
  );
}
