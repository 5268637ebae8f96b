import { useState } from "react";
import { useQueryClient } from "@tanstack/react-query";
import { keys } from "../api/queries";
import { Button } from "../ui/Button";
import { useToast } from "../ui/Toast";
import { errorMessage } from "../api/client";
import { cancelRun } from "./api";

/** Cancels a queued or running run (editors and up). */
export function CancelRunButton({ ws, runId }: { ws: string; runId: string }) {
  const queryClient = useQueryClient();
  const toast = useToast();
  const [busy, setBusy] = useState(false);
  return (
    <Button
      size="sm"
      variant="danger-ghost"
      busy={busy}
      onClick={async () => {
        setBusy(true);
        try {
          await cancelRun(ws, runId);
          toast("Run canceled", "info");
          await queryClient.invalidateQueries({ queryKey: keys.run(ws, runId) });
        } catch (e) {
          toast(errorMessage(e), "error");
        } finally {
          setBusy(false);
        }
      }}
    >
      Cancel run
    </Button>
  );
}
