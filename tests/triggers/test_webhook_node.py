"""The Webhook trigger node, run directly: its output is the request body (the run input), and it has
nothing to configure."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from tests.integrations.harness import Harness, get_node


class NoNetwork:
    async def request(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the webhook trigger must not use the network")


@pytest.mark.asyncio
@pytest.mark.parametrize("body", [{}, {"customer": "acme"}, {"nested": {"list": [1, {"a": None}]}, "flag": True}])
async def test_outputs_the_body(body: dict[str, Any]) -> None:
    harness = Harness(http=NoNetwork())  # type: ignore[arg-type]
    result = await harness.run("webhook_trigger", {}, run_input=body)
    assert result.output == body and result.output is not body and result.branch is None


def test_declaration() -> None:
    kind = get_node("webhook_trigger")
    assert (kind.category, kind.name, kind.credential_types) == ("trigger", "Webhook", ())
    with pytest.raises(ValidationError):
        kind.Config.model_validate({"url": "https://example.com"})
