export function Spinner({ small, label }: { small?: boolean; label?: string }) {
  return <span className={`spinner ${small ? "spinner-sm" : ""}`} role="status" aria-label={label ?? "Loading"} />;
}

export function Loading({ label = "Loading…" }: { label?: string }) {
  return (
    <div className="loading">
      <Spinner label={label} />
      <span>{label}</span>
    </div>
  );
}
