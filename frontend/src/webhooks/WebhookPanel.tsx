/** The Webhook trigger's URL in the node configuration: copy it, or regenerate it (the old one stops working). */
import { useState } from "react";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { api, call } from "../api/client";
import { Link } from "../lib/router";
import { ConfirmDialog } from "../ui/ConfirmDialog";
import { CopyButton } from "../ui/CopyButton";
import { Button } from "../ui/Button";
import { Spinner } from "../ui/Spinner";
import { ErrorBox } from "../ui/States";

export function WebhookPanel({ ws, workflowId, canEdit }: { ws: string; workflowId: string; canEdit: boolean }) {
  const queryClient = useQueryClient();
  const key = ["webhook", ws, workflowId];
  const webhook = useQuery({
    queryKey: key,
    queryFn: () =>
      call(
        api.GET("/api/v1/workspaces/{ws}/workflows/{workflow_id}/webhook", {
          params: { path: { ws, workflow_id: workflowId } },
        }),
      ),
    enabled: canEdit,
  });
  const [confirm, setConfirm] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);

  if (!canEdit) return <p className="muted small">Editors see this workflow's webhook URL here.</p>;

  async function regenerate() {
    setBusy(true);
    setError(null);
    try {
      const fresh = await call(
        api.POST("/api/v1/workspaces/{ws}/workflows/{workflow_id}/webhook/regenerate", {
          params: { path: { ws, workflow_id: workflowId } },
        }),
      );
      queryClient.setQueryData(key, fresh);
      setConfirm(false);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  }

  return (
    <section className="webhook-panel" aria-label="Webhook URL">
      <div className="field-label">Webhook URL</div>
      {webhook.isPending && <Spinner small />}
      <ErrorBox error={webhook.error} />
      {webhook.data && (
        <>
          <div className="copy-row">
            <code className="url-box">{webhook.data.url}</code>
            <CopyButton text={webhook.data.url} />
          </div>
          <p className="field-hint">
            POST a JSON object here; its fields become {"{{trigger.…}}"} variables. The URL contains a token: share it
            like a password.
            {webhook.data.hmac_required && (
              <>
                {" "}
                Requests must be signed (<Link to={`/w/${ws}/settings/webhooks`}>signing settings</Link>).
              </>
            )}
          </p>
          {!webhook.data.accepting && (
            <div className="field-warning">
              Not accepting requests yet: {webhook.data.reason ?? "save the workflow first."}
            </div>
          )}
          <Button size="sm" variant="ghost" onClick={() => setConfirm(true)}>
            Regenerate URL
          </Button>
        </>
      )}
      <ConfirmDialog
        open={confirm}
        title="Regenerate the webhook URL?"
        confirmLabel="Regenerate"
        danger
        busy={busy}
        error={error}
        onConfirm={() => void regenerate()}
        onClose={() => setConfirm(false)}
      >
        <p>The current URL stops working at once. Update every service that calls it.</p>
      </ConfirmDialog>
    </section>
  );
}
