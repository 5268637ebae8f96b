"""Slack node against FakeSlack (real guarded client) and httpx.MockTransport (error shapes)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from flowvault.egress import EgressBlocked
from flowvault.nodes.sdk import NodeFailed, ResolvedCredential
from tests.fakes import RATE_LIMITED_CHANNEL, SLACK_TOKEN, FakeSlack
from tests.integrations.harness import Harness, credential, get_node

MakeHarness = Callable[..., Harness]
BLOCKS = [{"type": "section", "text": {"type": "mrkdwn", "text": "*Deploy* finished"}}]


@pytest.fixture
def slack(fake_slack: FakeSlack, make_harness: MakeHarness) -> tuple[FakeSlack, Harness, ResolvedCredential]:
    harness = make_harness(f"{fake_slack.url}/api", fake_slack.host)
    return fake_slack, harness, credential("slack_token", fake_slack.host, token=SLACK_TOKEN)


Rig = tuple[FakeSlack, Harness, ResolvedCredential]


def message(**fields: Any) -> dict[str, Any]:
    return {"channel": "C0123456", "credential_id": "cred-slack_token", **fields}


@pytest.mark.asyncio
async def test_posts_text_with_the_bot_token(slack: Rig) -> None:
    fake, harness, cred = slack
    result = await harness.run("slack", message(text="Hello from flowvault"), cred)
    [posted] = fake.messages
    assert posted.channel == "C0123456"
    assert posted.text == "Hello from flowvault"
    assert posted.blocks is None
    assert posted.token == SLACK_TOKEN
    assert posted.auth == "header"
    assert result.output == {"channel": "C0123456", "ts": posted.ts}
    [request] = fake.requests
    assert request.path == "/api/chat.postMessage"
    assert request.headers["authorization"] == f"Bearer {SLACK_TOKEN}"
    assert request.headers["content-type"] == "application/json; charset=utf-8"


@pytest.mark.asyncio
async def test_posts_blocks_with_text_fallback(slack: Rig) -> None:
    fake, harness, cred = slack
    await harness.run("slack", message(text="Deploy finished", blocks=BLOCKS), cred)
    [posted] = fake.messages
    assert posted.blocks == BLOCKS
    assert posted.text == "Deploy finished"
    assert posted.payload == {"channel": "C0123456", "text": "Deploy finished", "blocks": BLOCKS}


@pytest.mark.asyncio
async def test_posts_blocks_alone(slack: Rig) -> None:
    fake, harness, cred = slack
    await harness.run("slack", message(blocks=BLOCKS), cred)
    [posted] = fake.messages
    assert posted.payload == {"channel": "C0123456", "blocks": BLOCKS}


@pytest.mark.asyncio
async def test_the_service_url_names_slack(slack: Rig) -> None:
    fake, harness, cred = slack
    asked: list[str] = []

    def service_url(service: str) -> str:
        asked.append(service)
        return f"{fake.url}/api"

    await harness.run("slack", message(text="hi"), cred, service_url=service_url)
    assert asked == ["slack"]


@pytest.mark.asyncio
async def test_without_a_credential_the_node_fails_before_calling_slack(slack: Rig) -> None:
    fake, harness, _cred = slack
    with pytest.raises(NodeFailed, match="needs a credential"):
        await harness.run("slack", message(text="hi"))
    wrong = credential("http_bearer", fake.host, token=SLACK_TOKEN)
    with pytest.raises(NodeFailed, match="needs a credential"):
        await harness.run("slack", message(text="hi"), wrong)
    assert fake.requests == []


@pytest.mark.asyncio
async def test_the_token_is_bound_to_the_credentials_hosts(slack: Rig) -> None:
    fake, harness, _cred = slack
    elsewhere = credential("slack_token", "slack.com", token=SLACK_TOKEN)
    with pytest.raises(EgressBlocked) as blocked:
        await harness.run("slack", message(text="hi"), elsewhere)
    assert blocked.value.kind == "credential_host"
    assert fake.requests == []


# -- Slack's error shapes --------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_invalid_auth_asks_to_rotate(slack: Rig) -> None:
    fake, harness, _cred = slack
    bad = credential("slack_token", fake.host, token="xoxb-not-a-valid-token")
    with pytest.raises(NodeFailed) as failed:
        await harness.run("slack", message(text="hi"), bad)
    assert str(failed.value) == (
        "Slack refused the message (invalid_auth): the token is not valid: rotate the credential with a current "
        "bot token."
    )
    assert fake.messages == []


@pytest.mark.asyncio
async def test_revoked_token(slack: Rig) -> None:
    fake, harness, cred = slack
    fake.revoked_tokens.add(SLACK_TOKEN)
    with pytest.raises(NodeFailed, match=r"\(token_revoked\): the token was revoked: rotate the credential"):
        await harness.run("slack", message(text="hi"), cred)


@pytest.mark.asyncio
async def test_valid_tokens_can_be_replaced(slack: Rig) -> None:
    fake, harness, _cred = slack
    fake.valid_tokens = {"xoxb-mine-123"}
    mine = credential("slack_token", fake.host, token="xoxb-mine-123")
    await harness.run("slack", message(text="hi"), mine)
    assert fake.messages[0].token == "xoxb-mine-123"


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("error", "hint"),
    [
        ("channel_not_found", "no such channel: use a channel ID (C…) or a name the bot can see"),
        ("not_in_channel", "the bot is not in that channel: invite it, or add the chat:write.public scope"),
        ("missing_scope", "the token lacks the chat:write scope: add it to the Slack app and reinstall"),
        ("account_inactive", "the token belongs to a deactivated account: rotate the credential"),
        ("not_authed", "no token reached Slack: select a credential"),
        ("is_archived", "see the Slack API docs"),
    ],
)
async def test_error_codes_map_to_hints(slack: Rig, error: str, hint: str) -> None:
    fake, harness, cred = slack
    fake.fail_next(200, {"ok": False, "error": error}, path="/api/chat.postMessage")
    with pytest.raises(NodeFailed) as failed:
        await harness.run("slack", message(text="hi"), cred)
    assert str(failed.value) == f"Slack refused the message ({error}): {hint}."


@pytest.mark.asyncio
async def test_rate_limit_mentions_retry_after(slack: Rig) -> None:
    fake, harness, cred = slack
    fake.retry_after = 7
    with pytest.raises(NodeFailed) as failed:
        await harness.run("slack", message(channel=RATE_LIMITED_CHANNEL, text="hi"), cred)
    assert str(failed.value) == "Slack rate-limited the request; retry after 7 s."
    assert fake.messages == []


@pytest.mark.asyncio
async def test_rate_limit_without_retry_after(slack: Rig) -> None:
    fake, harness, cred = slack
    fake.fail_next(429, {"ok": False, "error": "ratelimited"})
    with pytest.raises(NodeFailed, match=r"retry after \? s"):
        await harness.run("slack", message(text="hi"), cred)


@pytest.mark.asyncio
@pytest.mark.parametrize("status", [500, 502, 503])
async def test_server_errors_say_try_later(slack: Rig, status: int) -> None:
    fake, harness, cred = slack
    fake.fail_next(status, "upstream trouble")
    with pytest.raises(NodeFailed, match=rf"^Slack answered HTTP {status}; try again later\.$"):
        await harness.run("slack", message(text="hi"), cred)


@pytest.mark.asyncio
async def test_non_json_answer_is_a_refusal(slack: Rig) -> None:
    fake, harness, cred = slack
    fake.fail_next(200, "<html>proxy page</html>")
    with pytest.raises(NodeFailed, match=r"^Slack refused the message \(HTTP 200\): see the Slack API docs\.$"):
        await harness.run("slack", message(text="hi"), cred)


@pytest.mark.asyncio
@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b'"ok"'])
async def test_malformed_json_answer_is_a_refusal_not_a_crash(slack: Rig, body: bytes) -> None:
    fake, harness, cred = slack
    fake.fail_next(200, body, headers={"content-type": "application/json"})
    with pytest.raises(NodeFailed, match=r"^Slack refused the message \(HTTP 200\)"):
        await harness.run("slack", message(text="hi"), cred)


@pytest.mark.asyncio
async def test_a_wrong_base_url_is_a_refusal_naming_the_status(slack: Rig) -> None:
    fake, harness, cred = slack
    with pytest.raises(NodeFailed, match=r"^Slack refused the message \(HTTP 404\): see the Slack API docs\.$"):
        await harness.run("slack", message(text="hi"), cred, service_url=lambda _s: f"{fake.url}/v2")
    assert fake.messages == []


@pytest.mark.asyncio
async def test_network_errors_fail_the_node(make_harness: MakeHarness) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    harness = make_harness("http://127.0.0.2:8080/api", transport=httpx.MockTransport(handler))
    with pytest.raises(NodeFailed, match=r"^Slack could not be reached: ConnectError$"):
        await harness.run("slack", message(text="hi"), credential("slack_token", token=SLACK_TOKEN))


# -- config validation ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [{}, {"text": ""}, {"blocks": []}, {"text": "", "blocks": []}, {"text": None, "blocks": None}],
)
def test_neither_text_nor_blocks_is_a_validation_error(fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match=r"give the message text \(or blocks\)"):
        get_node("slack").Config.model_validate({"channel": "C1", **fields})


@pytest.mark.parametrize(
    "bad",
    [
        {"text": "hi"},
        {"channel": "", "text": "hi"},
        {"channel": "C1", "text": "x" * 40_001},
        {"channel": "C1", "blocks": "not a list"},
        {"channel": "C1", "text": "hi", "icon": ":x:"},
    ],
)
def test_invalid_configs_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        get_node("slack").Config.model_validate(bad)


def test_declares_its_credential_and_service() -> None:
    kind = get_node("slack")
    assert kind.credential_types == ("slack_token",)
    assert kind.services == ("slack",)
    assert kind.credential_id({"credential_id": "abc"}) == "abc"
