"""Summaries of py-spy's collapsed stacks (``py-spy record -f raw``): where the samples went.

``python -m bench.flame FILE [N]`` prints the top N frames by inclusive and by self samples."""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def short(frame: str) -> str:
    """``func (path/to/module.py:12)`` → ``func (module.py)``: one entry per function, any line."""
    match = _FRAME.match(frame.strip())
    if not match:
        return frame.strip()
    path = match["file"]
    for marker in ("site-packages/", "src/", "lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{match['func']} ({path})"


def load(path: Path) -> list[tuple[list[str], int]]:
    stacks = []
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks.append(([short(f) for f in stack.split(";")], int(count)))
    return stacks


def summarize(stacks: list[tuple[list[str], int]], top: int = 25) -> dict[str, list[tuple[str, int, float]]]:
    total = sum(count for _, count in stacks) or 1
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    for frames, count in stacks:
        for frame in set(frames):
            inclusive[frame] += count
        if frames:
            own[frames[-1]] += count
    return {
        "inclusive": [(f, c, 100 * c / total) for f, c in inclusive.most_common(top)],
        "self": [(f, c, 100 * c / total) for f, c in own.most_common(top)],
    }


WEBHOOK_PATH = (
    "receive_hook", "hook_target", "accept_hook", "claim_next", "execute_run", "Executor._execute",
    "DbRunHost.resolve_credential", "DbRunHost.credential_used", "DbRunHost.record_step", "DbRunHost.cancelled",
    "finish_run", "HttpRequest.run", "create_default_context", "RunSecrets.add", "Redactor.redact_value",
    "RedactingFilter.filter", "current_async_library",
)


def breakdown(stacks: list[tuple[list[str], int]], names: tuple[str, ...] = WEBHOOK_PATH) -> list[tuple[str, float]]:
    """Share of the event loop thread's samples spent inside each of ``names`` (inclusive)."""
    main = [(frames, count) for frames, count in stacks if any(f.startswith("Runner.run ") for f in frames)]
    total = sum(count for _, count in main) or 1
    shares = []
    for name in names:
        inside = sum(count for frames, count in main if any(f.startswith(name + " ") for f in frames))
        shares.append((name, 100 * inside / total))
    return shares


def main() -> None:
    stacks = load(Path(sys.argv[1]))
    top = int(sys.argv[2]) if len(sys.argv) > 2 else 25
    print(f"{sum(c for _, c in stacks)} samples")
    for kind, rows in summarize(stacks, top).items():
        print(f"\n-- {kind} --")
        for frame, count, share in rows:
            print(f"{share:6.1f}%  {count:7d}  {frame}")
    print("\n-- share of the event loop thread's samples (inclusive) --")
    for name, share in breakdown(stacks):
        print(f"{share:6.1f}%  {name}")


if __name__ == "__main__":
    main()
