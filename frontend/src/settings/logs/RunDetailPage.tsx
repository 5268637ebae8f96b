import { api, call } from "../../api/client";
import { useQuery } from "@tanstack/react-query";
import { keys } from "../../api/queries";
import { dateTime, duration, json } from "../../lib/format";
import { Link } from "../../lib/router";
import { CancelRunButton } from "../../runs/CancelRunButton";
import { RunSteps } from "../../runs/RunSteps";
import { useRun } from "../../runs/api";
import { Loading } from "../../ui/Spinner";
import { ErrorBox, StatusBadge } from "../../ui/States";
import { useWorkspace } from "../../workspace/context";
import { PageHeader } from "../../workspace/Shell";

/** One run: status, timing, input and every step as recorded (redacted by the server). */
export function RunDetailPage({ runId }: { runId: string }) {
  const { ws, canEdit } = useWorkspace();
  const run = useRun(ws, runId);
  const workflow = useQuery({
    queryKey: keys.workflow(ws, run.data?.workflow_id ?? ""),
    queryFn: () =>
      call(
        api.GET("/api/v1/workspaces/{ws}/workflows/{workflow_id}", {
          params: { path: { ws, workflow_id: run.data!.workflow_id } },
        }),
      ),
    enabled: !!run.data,
    retry: false,
  });

  if (run.isPending) return <Loading label="Loading run…" />;
  if (run.isError) return <ErrorBox error={run.error} title="Could not load the run" />;
  const data = run.data;
  return (
    <>
      <Link to={`/w/${ws}/settings/logs`} className="small">
        ← Logs
      </Link>
      <PageHeader
        title={
          <>
            Run <code className="run-id">{data.id.slice(0, 8)}</code> <StatusBadge status={data.status} />
          </>
        }
        actions={canEdit && ["queued", "running"].includes(data.status) && <CancelRunButton ws={ws} runId={data.id} />}
        subtitle={
          workflow.data ? (
            <>
              of <Link to={`/w/${ws}/workflows/${data.workflow_id}`}>{workflow.data.name}</Link> (v
              {data.workflow_version})
            </>
          ) : (
            "of a workflow that was deleted"
          )
        }
      />
      <dl className="meta-grid card">
        <div>
          <dt>Trigger</dt>
          <dd>{data.trigger}</dd>
        </div>
        <div>
          <dt>Queued</dt>
          <dd>{dateTime(data.queued_at)}</dd>
        </div>
        <div>
          <dt>Started</dt>
          <dd>{dateTime(data.started_at)}</dd>
        </div>
        <div>
          <dt>Duration</dt>
          <dd>{duration(data.started_at, data.finished_at) || "—"}</dd>
        </div>
        <div>
          <dt>Attempts</dt>
          <dd>{data.attempts}</dd>
        </div>
      </dl>
      {data.error && (
        <div className="error-box" role="alert">
          {data.error}
        </div>
      )}
      {Object.keys(data.input ?? {}).length > 0 && (
        <section className="section">
          <h2>Input</h2>
          <pre className="card pre">{json(data.input)}</pre>
        </section>
      )}
      <section className="section">
        <h2>Steps</h2>
        <div className="card">
          <RunSteps run={data} />
        </div>
      </section>
    </>
  );
}
