/** Small inline icons per node type (no icon font, nothing to download). */
const PATHS: Record<string, string> = {
  manual_trigger: "M8 5v14l11-7z",
  webhook_trigger: "M10 14a4 4 0 1 1 4-4M14 10l4 7M6 17h8",
  schedule_trigger: "M12 7v5l3 2M12 3a9 9 0 1 0 0 18 9 9 0 0 0 0-18z",
  http_request: "M3 12h18M12 3a14 14 0 0 1 0 18M12 3a14 14 0 0 0 0 18M12 3a9 9 0 1 0 0 18 9 9 0 0 0 0-18z",
  slack: "M9 3v12M15 9v12M3 15h12M9 9h12",
  sendgrid: "M3 6h18v12H3zM3 6l9 7 9-7",
  mailgun: "M3 6h18v12H3zM3 6l9 7 9-7",
  ses: "M3 6h18v12H3zM3 6l9 7 9-7",
  smtp: "M3 6h18v12H3zM3 6l9 7 9-7",
  condition: "M12 3l9 9-9 9-9-9z",
  delay: "M6 3h12M6 21h12M7 3c0 6 10 6 10 12M17 3c0 6-10 6-10 12",
  formatter: "M4 7h16M4 12h10M4 17h13",
};

const FALLBACK: Record<string, string> = {
  trigger: "M13 3L4 14h7l-1 7 9-11h-7z",
  action: "M5 12h14M13 6l6 6-6 6",
  logic: "M6 3v18M18 3v18M6 12h12",
};

export function CategoryIcon({ category, typeKey }: { category: string; typeKey: string }) {
  const d = PATHS[typeKey] ?? FALLBACK[category] ?? FALLBACK.action;
  return (
    <svg
      viewBox="0 0 24 24"
      width="16"
      height="16"
      fill="none"
      stroke="currentColor"
      strokeWidth="2"
      strokeLinecap="round"
      strokeLinejoin="round"
    >
      <path d={d} />
    </svg>
  );
}
