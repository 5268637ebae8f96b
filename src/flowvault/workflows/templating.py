"""``{{ reference }}`` templates in node configuration, rendered at run time.

References: ``{{trigger.path}}`` (the run's input), ``{{nodename.path}}`` (an earlier node's output;
the node's name lower-cased, spaces may be written as ``_``), nested paths with ``.key`` and
``[index]``, and ``{{secrets.NAME}}`` where the caller allows it (HTTP Request fields only).
A string that is exactly one reference keeps the referenced value's type; otherwise values are
written into the string (objects as JSON).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

TEMPLATE = re.compile(r"\{\{\s*(.*?)\s*\}\}")
_SEGMENT = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


class TemplateError(Exception):
    """A reference that cannot be resolved; the message names it and says what to fix."""


def node_key(name: str) -> str:
    return name.strip().lower()


def node_slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", node_key(name)).strip("_")


@dataclass(frozen=True)
class Reference:
    text: str
    root: str
    path: tuple[str | int, ...]


@lru_cache(maxsize=4096)
def parse(template: str) -> tuple[tuple[str | Reference, ...], bool]:
    """Splits a string into literal parts and references; the flag says it is one whole reference."""
    parts: list[str | Reference] = []
    position = 0
    for match in TEMPLATE.finditer(template):
        if match.start() > position:
            parts.append(template[position : match.start()])
        parts.append(_reference(match.group(1)))
        position = match.end()
    if position < len(template):
        parts.append(template[position:])
    whole = len(parts) == 1 and isinstance(parts[0], Reference)
    return tuple(parts), whole


def _reference(expression: str) -> Reference:
    text = "{{" + expression + "}}"
    segments: list[str | int] = []
    for name, index in _SEGMENT.findall(expression):
        segments.append(int(index) if index else name.strip())
    if not segments or not isinstance(segments[0], str) or not segments[0]:
        raise TemplateError(f"'{text}' is not a reference: write {{{{trigger.field}}}} or {{{{node name.field}}}}.")
    return Reference(text=text, root=node_key(segments[0]), path=tuple(segments[1:]))


def references(value: Any) -> list[Reference]:
    """Every reference inside a JSON-like value."""
    found: list[Reference] = []
    if isinstance(value, str):
        found.extend(p for p in parse(value)[0] if isinstance(p, Reference))
    elif isinstance(value, Mapping):
        for item in value.values():
            found.extend(references(item))
    elif isinstance(value, list | tuple):
        for item in value:
            found.extend(references(item))
    return found


SecretLookup = Callable[[str], str]


@dataclass
class Scope:
    """What references resolve against. ``secrets`` is None where secrets are not allowed."""

    trigger: Mapping[str, Any]
    nodes: Mapping[str, Any]
    secrets: SecretLookup | None = None

    def lookup(self, ref: Reference) -> Any:
        if ref.root == "secrets":
            return self._secret(ref)
        if ref.root == "trigger":
            base: Any = self.trigger
        elif ref.root in self.nodes:
            base = self.nodes[ref.root]
        elif node_slug(ref.root) in self.nodes:
            base = self.nodes[node_slug(ref.root)]
        else:
            known = ", ".join(sorted({"trigger", *self.nodes})) or "trigger"
            raise TemplateError(
                f"'{ref.text}' refers to '{ref.root}', which is not the trigger or a node that ran before this one "
                f"(available: {known})."
            )
        return _walk(base, ref)

    def _secret(self, ref: Reference) -> str:
        if self.secrets is None:
            raise TemplateError(
                f"'{ref.text}': secrets can be used only in an HTTP Request node's URL, query, headers or body. "
                "Other nodes take a credential from their Credentials dropdown."
            )
        if len(ref.path) != 1 or not isinstance(ref.path[0], str):
            raise TemplateError(f"'{ref.text}': write {{{{secrets.NAME}}}} with the name of one secret.")
        return self.secrets(ref.path[0])


def _walk(base: Any, ref: Reference) -> Any:
    value = base
    for step in ref.path:
        if isinstance(step, int) and isinstance(value, list) and -len(value) <= step < len(value):
            value = value[step]
            continue
        if isinstance(step, str) and isinstance(value, Mapping) and step in value:
            value = value[step]
            continue
        raise TemplateError(f"'{ref.text}': there is no '{step}' in the value it refers to.")
    return value


def _to_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def render_string(template: str, scope: Scope) -> Any:
    if "{{" not in template:
        return template
    parts, whole = parse(template)
    if whole:
        part = parts[0]
        assert isinstance(part, Reference)
        return scope.lookup(part)
    return "".join(p if isinstance(p, str) else _to_text(scope.lookup(p)) for p in parts)


def render(value: Any, scope: Scope) -> Any:
    """Renders every string inside a JSON-like value (keys included)."""
    if isinstance(value, str):
        return render_string(value, scope)
    if isinstance(value, Mapping):
        return {
            _to_text(render_string(k, scope)) if isinstance(k, str) else k: render(v, scope) for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [render(item, scope) for item in value]
    return value
