"""SendGrid node against FakeSendGrid (real guarded client) and httpx.MockTransport (error shapes)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from flowvault.egress import EgressBlocked
from flowvault.nodes.sdk import NodeFailed, ResolvedCredential
from tests.fakes import SENDGRID_KEY, FakeSendGrid
from tests.integrations.harness import Harness, credential, get_node

MakeHarness = Callable[..., Harness]
Rig = tuple[FakeSendGrid, Harness, ResolvedCredential]
CONTENT_ERROR = "give a subject and a text or HTML body, or a dynamic template id"


@pytest.fixture
def sendgrid(fake_sendgrid: FakeSendGrid, make_harness: MakeHarness) -> Rig:
    harness = make_harness(fake_sendgrid.url, fake_sendgrid.host)
    return fake_sendgrid, harness, credential("sendgrid_api_key", fake_sendgrid.host, api_key=SENDGRID_KEY)


def mail(**fields: Any) -> dict[str, Any]:
    return {"from_email": "alerts@example.com", "to": ["ada@example.com"], "credential_id": "cred-sg", **fields}


@pytest.mark.asyncio
async def test_plain_send_records_the_whole_payload(sendgrid: Rig) -> None:
    fake, harness, cred = sendgrid
    result = await harness.run("sendgrid", mail(
        from_name="Alerts",
        to=["ada@example.com", "grace@example.org"],
        subject="Build passed",
        text="All green.",
        html="<p>All <b>green</b>.</p>",
    ), cred)
    [sent] = fake.mails
    assert sent.key == SENDGRID_KEY
    assert sent.payload == {
        "personalizations": [{"to": [{"email": "ada@example.com"}, {"email": "grace@example.org"}]}],
        "from": {"email": "alerts@example.com", "name": "Alerts"},
        "subject": "Build passed",
        "content": [
            {"type": "text/plain", "value": "All green."},
            {"type": "text/html", "value": "<p>All <b>green</b>.</p>"},
        ],
    }
    assert sent.to == ["ada@example.com", "grace@example.org"]
    assert result.output == {"message_id": sent.message_id, "accepted": 2}
    [request] = fake.requests
    assert (request.method, request.path) == ("POST", "/v3/mail/send")
    assert request.headers["authorization"] == f"Bearer {SENDGRID_KEY}"
    assert request.headers["content-type"] == "application/json"


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("body", "content"),
    [
        ({"text": "plain"}, [{"type": "text/plain", "value": "plain"}]),
        ({"html": "<i>rich</i>"}, [{"type": "text/html", "value": "<i>rich</i>"}]),
    ],
)
async def test_single_content_part(sendgrid: Rig, body: dict[str, str], content: list[dict[str, str]]) -> None:
    fake, harness, cred = sendgrid
    await harness.run("sendgrid", mail(subject="S", **body), cred)
    [sent] = fake.mails
    assert sent.payload["content"] == content
    assert "name" not in sent.payload["from"]


@pytest.mark.asyncio
async def test_dynamic_template_send(sendgrid: Rig) -> None:
    fake, harness, cred = sendgrid
    data = {"first_name": "Ada", "items": [{"sku": "A1", "qty": 2}], "total": 12.5}
    result = await harness.run("sendgrid", mail(template_id="d-0123abcDEF", dynamic_template_data=data), cred)
    [sent] = fake.mails
    assert sent.template_id == "d-0123abcDEF"
    assert sent.payload == {
        "personalizations": [{"to": [{"email": "ada@example.com"}], "dynamic_template_data": data}],
        "from": {"email": "alerts@example.com"},
        "template_id": "d-0123abcDEF",
    }
    assert result.output["message_id"] == sent.message_id


@pytest.mark.asyncio
async def test_template_with_subject_keeps_the_subject(sendgrid: Rig) -> None:
    fake, harness, cred = sendgrid
    await harness.run("sendgrid", mail(template_id="d-abc", subject="Fallback"), cred)
    [sent] = fake.mails
    assert sent.subject == "Fallback"
    assert sent.payload["personalizations"][0]["dynamic_template_data"] == {}


@pytest.mark.asyncio
async def test_message_id_comes_from_the_x_message_id_header(make_harness: MakeHarness) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(202, headers={"X-Message-Id": "msg-42"})

    harness = make_harness("http://127.0.0.2:8080", transport=httpx.MockTransport(handler))
    result = await harness.run(
        "sendgrid", mail(subject="S", text="T"), credential("sendgrid_api_key", api_key=SENDGRID_KEY)
    )
    assert result.output == {"message_id": "msg-42", "accepted": 1}


# -- errors --------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_unknown_key_is_401_with_a_hint_to_rotate(sendgrid: Rig) -> None:
    fake, harness, _cred = sendgrid
    bad = credential("sendgrid_api_key", fake.host, api_key="SG.revoked-or-unknown")
    with pytest.raises(NodeFailed) as failed:
        await harness.run("sendgrid", mail(subject="S", text="T"), bad)
    assert str(failed.value) == (
        "SendGrid answered HTTP 401: The provided authorization grant is invalid, expired, or revoked. "
        "Rotate the credential with a valid API key."
    )
    assert fake.mails == []


@pytest.mark.asyncio
async def test_key_without_mail_send_scope_is_403_with_a_hint(sendgrid: Rig) -> None:
    fake, harness, cred = sendgrid
    fake.scopes = ["alerts.read"]
    with pytest.raises(NodeFailed) as failed:
        await harness.run("sendgrid", mail(subject="S", text="T"), cred)
    assert str(failed.value) == (
        "SendGrid answered HTTP 403: access forbidden. The key needs the mail.send scope and a verified sender."
    )


@pytest.mark.asyncio
async def test_400_lists_every_error_with_its_field(sendgrid: Rig) -> None:
    fake, harness, cred = sendgrid
    fake.fail_next(400, {"errors": [
        {"message": "The from address does not match a verified Sender Identity.", "field": "from", "help": None},
        {"message": "Invalid type.", "field": "personalizations.0.to.0.email", "help": None},
        {"message": "Bad Request", "field": None, "help": None},
    ]}, path="/v3/mail/send")
    with pytest.raises(NodeFailed) as failed:
        await harness.run("sendgrid", mail(subject="S", text="T"), cred)
    assert str(failed.value) == (
        "SendGrid answered HTTP 400: The from address does not match a verified Sender Identity. (from); "
        "Invalid type. (personalizations.0.to.0.email); Bad Request."
    )
    assert fake.mails == []


@pytest.mark.asyncio
@pytest.mark.parametrize("status", [413, 429, 500, 503])
async def test_other_statuses_fail_naming_the_status(sendgrid: Rig, status: int) -> None:
    fake, harness, cred = sendgrid
    fake.fail_next(status, {"errors": [{"message": "nope", "field": None}]})
    with pytest.raises(NodeFailed, match=rf"^SendGrid answered HTTP {status}: nope\.$"):
        await harness.run("sendgrid", mail(subject="S", text="T"), cred)


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("body", "shown"),
    [("service unavailable", "service unavailable"), (b"", ""), ([1, 2], "[1, 2]"), ({"errors": ["x"]}, "")],
)
async def test_unexpected_error_bodies_fail_the_node_cleanly(sendgrid: Rig, body: Any, shown: str) -> None:
    fake, harness, cred = sendgrid
    fake.fail_next(503, body)
    with pytest.raises(NodeFailed, match=r"^SendGrid answered HTTP 503: ") as failed:
        await harness.run("sendgrid", mail(subject="S", text="T"), cred)
    assert shown in str(failed.value)


@pytest.mark.asyncio
async def test_network_errors_fail_the_node(make_harness: MakeHarness) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    harness = make_harness("http://127.0.0.2:8080", transport=httpx.MockTransport(handler))
    with pytest.raises(NodeFailed, match=r"^SendGrid could not be reached: ReadTimeout$"):
        await harness.run("sendgrid", mail(subject="S", text="T"), credential("sendgrid_api_key", api_key="SG.x"))


@pytest.mark.asyncio
async def test_credential_is_required_and_bound(sendgrid: Rig) -> None:
    fake, harness, _cred = sendgrid
    with pytest.raises(NodeFailed, match="needs a credential"):
        await harness.run("sendgrid", mail(subject="S", text="T"))
    with pytest.raises(NodeFailed, match="needs a credential"):
        await harness.run("sendgrid", mail(subject="S", text="T"), credential("http_bearer", fake.host, token="SG.x"))
    with pytest.raises(EgressBlocked):
        await harness.run(
            "sendgrid", mail(subject="S", text="T"), credential("sendgrid_api_key", "api.sendgrid.com", api_key="SG.x")
        )
    assert fake.requests == []


# -- config validation -----------------------------------------------------------------------------------


def validate(fields: dict[str, Any]) -> Any:
    return get_node("sendgrid").Config.model_validate(fields)


@pytest.mark.parametrize(
    "fields",
    [{}, {"subject": "S"}, {"text": "T"}, {"html": "<p/>"}, {"subject": "", "text": "T"}, {"subject": "S", "text": ""}],
)
def test_without_subject_and_body_or_template_is_an_error(fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match=CONTENT_ERROR):
        validate(mail(**fields))


@pytest.mark.parametrize("template_id", ["abc", "d-", "D-abc", "d-abc def", "d-abc_1", "x-d-abc", "d-abc\n"])
def test_bad_template_id_is_an_error(template_id: str) -> None:
    with pytest.raises(ValidationError, match="template_id"):
        validate(mail(template_id=template_id))


@pytest.mark.parametrize(
    "fields",
    [
        {"from_email": "not-an-email"},
        {"from_email": "a@b@example.com"},
        {"to": ["ok@example.com", "broken"]},
        {"to": ["spaces in@example.com"]},
        {"to": []},
        {"to": "ada@example.com"},
        {"to": [f"user{i}@example.com" for i in range(1001)]},
    ],
)
def test_bad_addresses_are_errors(fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        validate(mail(subject="S", text="T", **fields))


def test_valid_configs() -> None:
    plain = validate(mail(subject="S", html="<p/>"))
    assert plain.template_id is None
    templated = validate(mail(template_id="d-1a2b3c"))
    assert templated.dynamic_template_data == {}
    assert len(validate(mail(subject="S", text="T", to=[f"u{i}@example.com" for i in range(1000)])).to) == 1000
