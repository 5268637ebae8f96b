"""HTTP Request node against FakeEcho (real guarded client) and httpx.MockTransport (error shapes)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from flowvault.egress import EgressBlocked
from flowvault.nodes.sdk import NodeFailed
from tests.fakes import FakeEcho
from tests.integrations.harness import Harness, credential, get_node

MakeHarness = Callable[..., Harness]
BEARER = "bearer-token-0123456789"
PASSWORD = "pa55:word-with-colon"


@pytest.fixture
def echo(fake_echo: FakeEcho, make_harness: MakeHarness) -> tuple[FakeEcho, Harness]:
    return fake_echo, make_harness(fake_echo.url, fake_echo.host)


def config(url: str, **fields: Any) -> dict[str, Any]:
    return {"url": url, **fields}


def only_request(fake: FakeEcho) -> Any:
    requests = fake.requests
    assert len(requests) == 1, requests
    return requests[0]


# -- methods, query, headers, bodies --------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE"])
async def test_each_method_reaches_the_echo_with_query_and_headers(
    echo: tuple[FakeEcho, Harness], method: str
) -> None:
    fake, harness = echo
    result = await harness.run("http_request", config(
        f"{fake.url}/echo", method=method, query={"page": "2", "q": "two words & more"}, headers={"X-Trace": "t-1"},
    ))
    assert result.branch is None
    assert result.output["status"] == 200
    body = result.output["body"]
    assert body["method"] == method
    assert body["path"] == "/echo"
    assert body["args"] == {"page": "2", "q": "two words & more"}
    assert body["headers"]["x-trace"] == "t-1"
    assert "authorization" not in body["headers"]
    received = only_request(fake)
    assert received.method == method
    assert received.headers["host"] == f"{fake.host}:{fake.port}"


@pytest.mark.asyncio
async def test_query_merges_with_the_urls_own_query(echo: tuple[FakeEcho, Harness]) -> None:
    fake, harness = echo
    result = await harness.run("http_request", config(f"{fake.url}/echo?a=1", query={"b": "2"}))
    assert result.output["body"]["args"] == {"a": "1", "b": "2"}


@pytest.mark.asyncio
async def test_numbers_from_whole_value_templates_are_sent_as_text(echo: tuple[FakeEcho, Harness]) -> None:
    fake, harness = echo
    # What {{trigger.amount}} renders to when it is a header's whole value: the number itself.
    await harness.run("http_request", config(f"{fake.url}/echo", headers={"X-Amount": 42}, query={"n": 2.5}))
    received = only_request(fake)
    assert received.headers["x-amount"] == "42" and received.query == "n=2.5"


@pytest.mark.asyncio
@pytest.mark.parametrize("body", [{"name": "Ada", "tags": ["x", "y"], "n": 1.5}, [1, "two", None], {}])
async def test_json_body_is_sent_as_json(echo: tuple[FakeEcho, Harness], body: Any) -> None:
    fake, harness = echo
    result = await harness.run("http_request", config(f"{fake.url}/echo", method="POST", body=body))
    received = only_request(fake)
    assert received.headers["content-type"] == "application/json"
    assert received.json == body
    assert result.output["body"]["json"] == body


@pytest.mark.asyncio
@pytest.mark.parametrize("body", [True, False, 0, 42, 2.5])
async def test_json_scalar_body_is_sent_as_json_not_python_repr(echo: tuple[FakeEcho, Harness], body: Any) -> None:
    fake, harness = echo
    await harness.run("http_request", config(f"{fake.url}/echo", method="POST", body=body))
    received = only_request(fake)
    assert received.headers["content-type"] == "application/json"
    assert received.body == json.dumps(body).encode()


@pytest.mark.asyncio
async def test_text_body_is_sent_as_text_plain(echo: tuple[FakeEcho, Harness]) -> None:
    fake, harness = echo
    result = await harness.run("http_request", config(f"{fake.url}/echo", method="PUT", body="plain text, ünïcode"))
    received = only_request(fake)
    assert received.headers["content-type"] == "text/plain; charset=utf-8"
    assert received.text == "plain text, ünïcode"
    assert result.output["body"]["body"] == "plain text, ünïcode"


@pytest.mark.asyncio
@pytest.mark.parametrize("name", ["Content-Type", "content-type", "CONTENT-TYPE"])
async def test_a_configured_content_type_wins_over_the_text_default(
    echo: tuple[FakeEcho, Harness], name: str
) -> None:
    fake, harness = echo
    await harness.run("http_request", config(
        f"{fake.url}/echo", method="POST", body="<a/>", headers={name: "application/xml"},
    ))
    received = only_request(fake)
    assert [v for k, v in received.raw_headers if k == "content-type"] == ["application/xml"]


@pytest.mark.asyncio
async def test_no_body_sends_no_content(echo: tuple[FakeEcho, Harness]) -> None:
    fake, harness = echo
    await harness.run("http_request", config(f"{fake.url}/echo", method="POST"))
    received = only_request(fake)
    assert received.body == b""
    assert "content-type" not in received.headers


# -- auth --------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_bearer_auth_sends_the_token(echo: tuple[FakeEcho, Harness]) -> None:
    fake, harness = echo
    cred = credential("http_bearer", fake.host, token=BEARER)
    await harness.run("http_request", config(f"{fake.url}/echo", auth="bearer", credential_id=cred.id), cred)
    assert only_request(fake).headers["authorization"] == f"Bearer {BEARER}"


@pytest.mark.asyncio
async def test_basic_auth_sends_base64_of_user_and_password(echo: tuple[FakeEcho, Harness]) -> None:
    fake, harness = echo
    cred = credential("http_basic", fake.host, username="alice", password=PASSWORD)
    await harness.run("http_request", config(f"{fake.url}/echo", auth="basic", credential_id=cred.id), cred)
    authorization = only_request(fake).headers["authorization"]
    scheme, _, encoded = authorization.partition(" ")
    assert scheme == "Basic"
    assert base64.b64decode(encoded).decode() == f"alice:{PASSWORD}"
    assert encoded == base64.b64encode(f"alice:{PASSWORD}".encode()).decode()


@pytest.mark.asyncio
async def test_basic_auth_username_override(echo: tuple[FakeEcho, Harness]) -> None:
    fake, harness = echo
    cred = credential("http_basic", fake.host, username="alice", password=PASSWORD)
    await harness.run(
        "http_request", config(f"{fake.url}/echo", auth="basic", username="bob", credential_id=cred.id), cred
    )
    encoded = only_request(fake).headers["authorization"].removeprefix("Basic ")
    assert base64.b64decode(encoded).decode() == f"bob:{PASSWORD}"


@pytest.mark.asyncio
async def test_header_auth_sends_the_custom_header(echo: tuple[FakeEcho, Harness]) -> None:
    fake, harness = echo
    cred = credential("http_header", fake.host, header_name="X-API-Key", value="key-value-987")
    await harness.run("http_request", config(f"{fake.url}/echo", auth="header", credential_id=cred.id), cred)
    headers = only_request(fake).headers
    assert headers["x-api-key"] == "key-value-987"
    assert "authorization" not in headers


@pytest.mark.asyncio
async def test_header_auth_header_name_override(echo: tuple[FakeEcho, Harness]) -> None:
    fake, harness = echo
    cred = credential("http_header", fake.host, header_name="X-API-Key", value="key-value-987")
    await harness.run("http_request", config(
        f"{fake.url}/echo", auth="header", header_name="X-Other-Key", credential_id=cred.id,
    ), cred)
    headers = only_request(fake).headers
    assert headers["x-other-key"] == "key-value-987"
    assert "x-api-key" not in headers


@pytest.mark.asyncio
async def test_auth_header_replaces_a_configured_header_of_the_same_name(echo: tuple[FakeEcho, Harness]) -> None:
    fake, harness = echo
    cred = credential("http_bearer", fake.host, token=BEARER)
    await harness.run("http_request", config(
        f"{fake.url}/echo", auth="bearer", headers={"authorization": "Bearer stale"}, credential_id=cred.id,
    ), cred)
    assert [v for k, v in only_request(fake).raw_headers if k == "authorization"] == [f"Bearer {BEARER}"]


@pytest.mark.asyncio
async def test_auth_none_sends_no_authorization_even_with_a_credential_in_context(
    echo: tuple[FakeEcho, Harness],
) -> None:
    fake, harness = echo
    cred = credential("http_bearer", fake.host, token=BEARER)
    await harness.run("http_request", config(f"{fake.url}/echo"), cred)
    received = only_request(fake)
    assert "authorization" not in received.headers
    assert not fake.saw(BEARER)


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("auth", "wrong_type", "fields"),
    [
        ("bearer", "http_basic", {"username": "u", "password": "p"}),
        ("basic", "http_header", {"header_name": "X-K", "value": "v"}),
        ("header", "http_bearer", {"token": BEARER}),
        ("bearer", "slack_token", {"token": "xoxb-1"}),
    ],
)
async def test_credential_of_the_wrong_type_fails_the_node(
    echo: tuple[FakeEcho, Harness], auth: str, wrong_type: str, fields: dict[str, str]
) -> None:
    fake, harness = echo
    cred = credential(wrong_type, fake.host, **fields)
    with pytest.raises(NodeFailed, match=r"needs a credential: select one in its Credentials dropdown"):
        await harness.run("http_request", config(f"{fake.url}/echo", auth=auth, credential_id=cred.id), cred)
    assert fake.requests == []


@pytest.mark.asyncio
async def test_missing_resolved_credential_fails_the_node(echo: tuple[FakeEcho, Harness]) -> None:
    fake, harness = echo
    with pytest.raises(NodeFailed, match="'Test node' needs a credential"):
        await harness.run("http_request", config(f"{fake.url}/echo", auth="bearer", credential_id="gone"))
    assert fake.requests == []


@pytest.mark.asyncio
async def test_credential_is_only_sent_to_its_bound_hosts(echo: tuple[FakeEcho, Harness]) -> None:
    fake, harness = echo
    cred = credential("http_bearer", "api.elsewhere.example", token=BEARER)
    with pytest.raises(EgressBlocked) as blocked:
        await harness.run("http_request", config(f"{fake.url}/echo", auth="bearer", credential_id=cred.id), cred)
    assert blocked.value.kind == "credential_host"
    assert fake.requests == []


@pytest.mark.asyncio
async def test_a_host_off_the_allowlist_is_blocked(echo: tuple[FakeEcho, Harness]) -> None:
    _fake, harness = echo
    with pytest.raises(EgressBlocked):
        await harness.run("http_request", config("http://127.0.0.1:9/echo"))


# -- responses -----------------------------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize("status", [400, 401, 404, 429, 500, 503])
async def test_non_2xx_fails_naming_status_and_host(echo: tuple[FakeEcho, Harness], status: int) -> None:
    fake, harness = echo
    with pytest.raises(NodeFailed) as failed:
        await harness.run("http_request", config(f"{fake.url}/status/{status}"))
    message = str(failed.value)
    assert message.startswith(f"HTTP {status} from {fake.host}:")
    assert f"FakeEcho answered {status} as asked" in message


@pytest.mark.asyncio
@pytest.mark.parametrize("status", [200, 201, 202, 204])
async def test_2xx_succeeds(echo: tuple[FakeEcho, Harness], status: int) -> None:
    fake, harness = echo
    result = await harness.run("http_request", config(f"{fake.url}/status/{status}", method="POST"))
    assert result.output["status"] == status
    expected = "" if status == 204 else {"error": f"FakeEcho answered {status} as asked"}
    assert result.output["body"] == expected


@pytest.mark.asyncio
async def test_json_response_is_parsed_into_a_dict(echo: tuple[FakeEcho, Harness]) -> None:
    fake, harness = echo
    payload = {"nested": {"list": [1, 2, 3]}, "flag": True}
    result = await harness.run("http_request", config(f"{fake.url}/json", method="POST", body=payload))
    assert result.output["body"] == payload
    assert result.output["headers"]["content-type"] == "application/json"


@pytest.mark.asyncio
async def test_text_response_is_kept_as_text(echo: tuple[FakeEcho, Harness]) -> None:
    fake, harness = echo
    result = await harness.run("http_request", config(f"{fake.url}/text"))
    assert result.output["body"] == "Hello from FakeEcho.\n"
    custom = await harness.run("http_request", config(f"{fake.url}/text", query={"body": '{"not": "parsed"}'}))
    assert custom.output["body"] == '{"not": "parsed"}'


@pytest.mark.asyncio
async def test_timeout_fails_the_node_mentioning_the_timeout(echo: tuple[FakeEcho, Harness]) -> None:
    fake, harness = echo
    with pytest.raises(NodeFailed, match=r"timed out after 200 ms"):
        await harness.run("http_request", config(f"{fake.url}/slow", query={"ms": "1000"}, timeout_ms=200))


@pytest.mark.asyncio
async def test_a_fast_enough_answer_beats_the_timeout(echo: tuple[FakeEcho, Harness]) -> None:
    fake, harness = echo
    result = await harness.run("http_request", config(f"{fake.url}/slow", query={"ms": "10"}, timeout_ms=2000))
    assert result.output["body"] == {"slept_ms": 10}


@pytest.mark.asyncio
async def test_redirect_not_followed_is_a_non_2xx_failure(echo: tuple[FakeEcho, Harness]) -> None:
    fake, harness = echo
    target = f"{fake.url}/echo"
    with pytest.raises(NodeFailed, match=rf"^HTTP 302 from {fake.host}:"):
        await harness.run("http_request", config(
            f"{fake.url}/redirect", query={"to": target, "code": "302"}, follow_redirects=False,
        ))
    assert [r.path for r in fake.requests] == ["/redirect"]


@pytest.mark.asyncio
@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
async def test_redirect_followed_when_enabled(echo: tuple[FakeEcho, Harness], code: int) -> None:
    fake, harness = echo
    result = await harness.run("http_request", config(
        f"{fake.url}/redirect", query={"to": f"{fake.url}/echo?landed=yes", "code": str(code)},
    ))
    assert result.output["status"] == 200
    assert result.output["body"]["path"] == "/echo"
    assert result.output["body"]["args"] == {"landed": "yes"}
    assert [r.path for r in fake.requests] == ["/redirect", "/echo"]


# -- config validation ----------------------------------------------------------------------------------


@pytest.mark.parametrize("auth", ["bearer", "basic", "header"])
def test_auth_without_credential_id_is_a_validation_error(auth: str) -> None:
    with pytest.raises(ValidationError, match=rf"auth '{auth}' needs a credential"):
        get_node("http_request").Config.model_validate({"url": "https://api.example.com", "auth": auth})


@pytest.mark.parametrize(
    "bad",
    [
        {},
        {"url": ""},
        {"url": "https://x", "method": "TRACE"},
        {"url": "https://x", "timeout_ms": 50},
        {"url": "https://x", "timeout_ms": 300_001},
        {"url": "https://x", "auth": "digest", "credential_id": "c"},
        {"url": "https://x", "unknown_field": 1},
    ],
)
def test_invalid_configs_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        get_node("http_request").Config.model_validate(bad)


def test_defaults_and_credential_types_for_auth_modes() -> None:
    kind = get_node("http_request")
    cfg = kind.Config.model_validate({"url": "https://x"})
    assert cfg.model_dump() == {
        "method": "GET", "url": "https://x", "headers": {}, "query": {}, "body": None, "timeout_ms": 30_000,
        "follow_redirects": True, "auth": "none", "username": None, "header_name": None, "credential_id": None,
    }
    assert kind.credential_types_for(cfg) == ()
    for auth, expected in (("basic", "http_basic"), ("bearer", "http_bearer"), ("header", "http_header")):
        with_auth = kind.Config.model_validate({"url": "https://x", "auth": auth, "credential_id": "c"})
        assert kind.credential_types_for(with_auth) == (expected,)


# -- error shapes through httpx.MockTransport ---------------------------------------------------------------

MOCK_URL = "http://127.0.0.2:8080/api"


def mocked(make_harness: MakeHarness, handler: Callable[[httpx.Request], httpx.Response]) -> Harness:
    return make_harness(MOCK_URL, transport=httpx.MockTransport(handler))


@pytest.mark.asyncio
async def test_read_timeout_from_transport(make_harness: MakeHarness) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("read timed out", request=request)

    with pytest.raises(NodeFailed, match=r"timed out after 1500 ms\. Raise the timeout or try later\."):
        await mocked(make_harness, handler).run("http_request", config(MOCK_URL, timeout_ms=1500))


@pytest.mark.asyncio
async def test_connection_errors_fail_the_node(make_harness: MakeHarness) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(NodeFailed, match=r"^The request failed: ConnectError: connection refused$"):
        await mocked(make_harness, handler).run("http_request", config(MOCK_URL))


@pytest.mark.asyncio
async def test_protocol_error_fails_the_node(make_harness: MakeHarness) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.RemoteProtocolError("peer closed connection", request=request)

    with pytest.raises(NodeFailed, match=r"RemoteProtocolError"):
        await mocked(make_harness, handler).run("http_request", config(MOCK_URL))


@pytest.mark.asyncio
async def test_invalid_json_with_a_json_content_type_is_kept_as_text(make_harness: MakeHarness) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"{broken", headers={"content-type": "application/json"})

    result = await mocked(make_harness, handler).run("http_request", config(MOCK_URL))
    assert result.output["body"] == "{broken"


@pytest.mark.asyncio
async def test_vendor_json_content_type_is_parsed(make_harness: MakeHarness) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b'{"data": []}', headers={"content-type": "application/vnd.api+json"})

    result = await mocked(make_harness, handler).run("http_request", config(MOCK_URL))
    assert result.output["body"] == {"data": []}


@pytest.mark.asyncio
async def test_long_error_bodies_are_cut_to_500_characters(make_harness: MakeHarness) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(502, text="x" * 5000)

    with pytest.raises(NodeFailed) as failed:
        await mocked(make_harness, handler).run("http_request", config(MOCK_URL))
    assert str(failed.value) == f"HTTP 502 from 127.0.0.2: {'x' * 500}"


@pytest.mark.asyncio
async def test_json_error_bodies_are_shown_as_json(make_harness: MakeHarness) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(422, json={"detail": [{"msg": "bad"}]})

    with pytest.raises(NodeFailed, match=r'^HTTP 422 from 127\.0\.0\.2: \{"detail": \[\{"msg": "bad"\}\]\}$'):
        await mocked(make_harness, handler).run("http_request", config(MOCK_URL))


@pytest.mark.asyncio
async def test_timeout_is_passed_to_the_transport_in_seconds(make_harness: MakeHarness) -> None:
    seen: list[Any] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.extensions["timeout"])
        return httpx.Response(200, json={})

    await mocked(make_harness, handler).run("http_request", config(MOCK_URL, timeout_ms=2500))
    assert seen == [{"connect": 2.5, "read": 2.5, "write": 2.5, "pool": 2.5}]
