"""Benchmark 3: redaction of 1 MB of node output holding 200 secrets in all their derived forms.

flowvault's ``Redactor`` against (a) one ``str.replace`` per pattern, longest first, and (b) one
compiled regex alternation of ``re.escape``'d patterns, longest first, replaced by ``sub`` (the
approach of Airflow's SecretsMasker). All three get the same patterns (every derived form of every
secret, plus the basic-auth tokens). Also the cost of building each."""

from __future__ import annotations

import random
import re
import string
import time
from collections.abc import Callable
from typing import Any

from flowvault.redaction import Redactor, basic_auth_forms, derived_forms

MB = 1_000_000
SLOW_BUDGET_S = 45.0  # a method slower than this on 1 MB is timed on a prefix and extrapolated


def make_secrets(count: int, rng: random.Random) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """``count`` secrets: API tokens, passwords with characters that need escaping, basic-auth pairs."""
    alphabet = string.ascii_letters + string.digits
    specials = alphabet + "!#$%&()*+,-./:;<=>?@[]^_{|}~ \"'\\é"
    secrets: list[tuple[str, str]] = []
    extra: list[tuple[str, str]] = []
    for number in range(count):
        name = f"secret-{number:03d}"
        kind = number % 10
        if kind < 7:
            value = "sk_live_" + "".join(rng.choices(alphabet, k=32))
        elif kind < 9:
            value = "".join(rng.choices(specials, k=20))
        else:
            value = "".join(rng.choices(alphabet, k=16))
            user = f"user{number}@example.com"
            extra += [(name, form) for form in basic_auth_forms(user, value)]
        secrets.append((name, value))
    return secrets, extra


def all_patterns(secrets: list[tuple[str, str]], extra: list[tuple[str, str]]) -> list[str]:
    patterns = {form for _, value in secrets for form in derived_forms(value)} | {form for _, form in extra}
    return sorted(patterns, key=lambda p: (-len(p), p))


def make_text(patterns: list[str], size: int, rng: random.Random, every: int = 1000) -> str:
    """~``size`` characters of JSON-like node output with one planted pattern every ~``every`` characters."""
    words = ["order", "customer", "status", "amount", "created", "items", "shipping", "note", "id", "ok"]
    parts: list[str] = []
    length = 0
    while length < size:
        filler = " ".join(rng.choices(words, k=every // 8))
        planted = rng.choice(patterns)
        chunk = f'{{"{rng.choice(words)}": "{filler}", "token": "{planted}"}}\n'
        parts.append(chunk)
        length += len(chunk)
    return "".join(parts)[:size]


def _timed(work: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    best = float("inf")
    result = None
    for _ in range(repeat):
        started = time.perf_counter()
        result = work()
        best = min(best, time.perf_counter() - started)
    return best, result


def _replace_loop(patterns: list[str]) -> Callable[[str], str]:
    def redact(text: str) -> str:
        for pattern in patterns:
            text = text.replace(pattern, "***")
        return text

    return redact


def _regex(patterns: list[str]) -> Callable[[str], str]:
    compiled = re.compile("|".join(re.escape(p) for p in patterns))
    return lambda text: compiled.sub("***", text)


def _throughput(redact: Callable[[str], str], text: str, repeat: int) -> dict[str, Any]:
    """MB/s on the whole text, or on a prefix when one pass would take longer than SLOW_BUDGET_S."""
    probe = text[: len(text) // 16]
    probe_s, _ = _timed(lambda: redact(probe), 1)
    whole_s = probe_s * 16
    measured = text
    if whole_s > SLOW_BUDGET_S:  # a quarter of the budget's worth, at least 1/64 of the text
        measured = text[: max(len(text) // 64, int(len(text) * SLOW_BUDGET_S / whole_s / 4))]
    seconds, output = _timed(lambda: redact(measured), repeat if measured is text else 1)
    return {
        "seconds": seconds,
        "mb_per_s": len(measured) / MB / seconds,
        "measured_chars": len(measured),
        "extrapolated": measured is not text,
        "output": output,
    }


def bench_redaction(*, secrets_count: int = 200, size: int = MB, repeat: int = 3, seed: int = 6) -> dict[str, Any]:
    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not keys
    secrets, extra = make_secrets(secrets_count, rng)
    patterns = all_patterns(secrets, extra)
    text = make_text(patterns, size, rng)

    build_s, redactor = _timed(lambda: Redactor(secrets, extra), 5)
    regex_build_s, regex = _timed(lambda: _regex(patterns), 1)
    results: dict[str, Any] = {
        "secrets": secrets_count,
        "patterns": len(patterns),
        "text_chars": len(text),
        "build": {"flowvault_s": build_s, "regex_compile_s": regex_build_s, "replace_loop_s": 0.0},
    }
    methods = {"flowvault": redactor.redact, "replace_loop": _replace_loop(patterns), "regex_alternation": regex}
    raw_values = [value for _, value in secrets]
    for name, redact in methods.items():
        figures = _throughput(redact, text, repeat)
        output = figures.pop("output")
        leaked = sum(1 for value in raw_values if value in output)
        results[name] = figures | {"secrets_left_in_output": leaked}
    flowvault = results["flowvault"]["mb_per_s"]
    results["ratio_vs_replace_loop"] = flowvault / results["replace_loop"]["mb_per_s"]
    results["ratio_vs_regex"] = flowvault / results["regex_alternation"]["mb_per_s"]
    return results
