""" "No hardcoded tokens": a workflow whose configuration contains, anywhere, the plaintext of one of
the workspace's secrets (or an encoded form of it) is refused. The message names the node and
field and the secret, never the value."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from flowvault.errors import ValidationFailed
from flowvault.redaction import Redactor
from flowvault.secrets.models import Secret
from flowvault.workflows.schemas import Graph

_MARKER = re.compile(r"\[REDACTED(?::([^\]]*))?\]")


def _first_secret_name(redactor: Redactor, value: Any) -> str | None:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    redacted = redactor.redact(text)
    if redacted == text:
        return None
    for match in _MARKER.finditer(redacted):
        if match.group(0) not in text:
            return match.group(1) or "one of your secrets"
    return "one of your secrets"


def find_hardcoded_secret(
    values: Iterable[tuple[Secret, str, str]], workflow_name: str, graph: Graph
) -> ValidationFailed | None:
    pairs = [(secret.name, value) for secret, _field, value in values]
    if not pairs:
        return None
    redactor = Redactor.build(pairs)
    if (name := _first_secret_name(redactor, workflow_name)) is not None:
        return ValidationFailed(
            f"The workflow name contains the value of the secret '{name}'. Rename it.", field="name"
        )
    for node in graph.nodes:
        for field, value in [("name", node.name), *node.config.items()]:
            name = _first_secret_name(redactor, value if field == "name" else {field: value})
            if name is not None:
                if field != "name" and _first_secret_name(redactor, field) is not None:
                    field = "config"  # the setting's own name holds the value: don't repeat it
                where = f"config.{field}" if field not in ("name", "config") else field
                return ValidationFailed(
                    f"Node '{node.name if field != 'name' else node.id}' field '{field}' contains the value of the "
                    f"secret '{name}'. Don't paste secrets into a workflow: select the credential in the node's "
                    "Credentials dropdown (or use {{secrets." + name + "}} in an HTTP Request).",
                    field=where,
                    extra={"node_id": node.id},
                )
    return None
