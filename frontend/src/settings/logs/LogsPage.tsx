/** Settings → Logs: executed runs, the dead-letter queue, blocked egress, change history, audit log. */
import { Link } from "../../lib/router";
import { useWorkspace } from "../../workspace/context";
import { PageHeader } from "../../workspace/Shell";
import { AuditTab } from "./AuditTab";
import { BlockedTab } from "./BlockedTab";
import { ChangesTab } from "./ChangesTab";
import { DeadLetterTab } from "./DeadLetterTab";
import { RunsTab } from "./RunsTab";

const TABS = [
  { key: "runs", label: "Runs" },
  { key: "dead-letter", label: "Dead-letter queue" },
  { key: "blocked-egress", label: "Blocked egress" },
  { key: "changes", label: "Change history" },
  { key: "audit", label: "Audit log" },
];

export function LogsPage({ tab = "runs" }: { tab?: string }) {
  const { ws } = useWorkspace();
  const current = TABS.some((t) => t.key === tab) ? tab : "runs";
  return (
    <>
      <PageHeader title="Logs" subtitle="Everything recorded is redacted: secret values never appear here." />
      <nav className="tabs" aria-label="Log views">
        {TABS.map((t) => (
          <Link
            key={t.key}
            to={`/w/${ws}/settings/logs/${t.key}`}
            className={`tab ${current === t.key ? "active" : ""}`}
            aria-current={current === t.key ? "page" : undefined}
          >
            {t.label}
          </Link>
        ))}
      </nav>
      {current === "runs" && <RunsTab />}
      {current === "dead-letter" && <DeadLetterTab />}
      {current === "blocked-egress" && <BlockedTab />}
      {current === "changes" && <ChangesTab />}
      {current === "audit" && <AuditTab />}
    </>
  );
}
