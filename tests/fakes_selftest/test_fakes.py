"""The fakes themselves, exercised over real HTTP on loopback (httpx, no proxies)."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.fakes import SENDGRID_KEY, SLACK_TOKEN, FakeEcho, FakeSendGrid, FakeSlack
from tests.fakes.sendgrid import INVALID_AUTH, MISSING_AUTH

TOKEN = "tok+en/with=odd&chars?0123456789"


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    """One client for the module: building an httpx.Client (its SSL context) costs ~30 ms."""
    with httpx.Client(trust_env=False, timeout=5) as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# -- the runner -------------------------------------------------------------------------------


def test_binds_127_0_0_2_on_a_free_port_and_starts_and_stops_quickly(http: httpx.Client) -> None:
    began = time.perf_counter()
    fake = FakeEcho().start()
    started = time.perf_counter() - began
    try:
        assert fake.host == "127.0.0.2" and fake.url == f"http://127.0.0.2:{fake.port}"
        assert http.get(f"{fake.url}/text").text == "Hello from FakeEcho.\n"
    finally:
        began = time.perf_counter()
        fake.stop()
        stopped = time.perf_counter() - began
    assert started < 0.5 and stopped < 0.5, (started, stopped)
    assert not fake.running
    with pytest.raises(httpx.ConnectError):
        http.get(f"{fake.url}/text")


def test_context_manager_and_another_loopback_host(http: httpx.Client) -> None:
    with FakeEcho(host="127.0.0.3") as fake, FakeEcho() as other:
        assert fake.url.startswith("http://127.0.0.3:")
        assert http.get(f"{fake.url}/echo").status_code == 200
        assert other.requests == [] and len(fake.requests) == 1
    assert not fake.running and not other.running


def test_records_every_request_with_lower_case_headers(fake_echo: FakeEcho, http: httpx.Client) -> None:
    headers = [("Authorization", f"Bearer {TOKEN}"), ("X-Twice", "a"), ("X-Twice", "b")]
    http.post(f"{fake_echo.url}/echo?x=1&y=%20z", json={"k": "v"}, headers=headers)
    http.get(f"{fake_echo.url}/nowhere")
    first, second = fake_echo.requests
    assert (first.method, first.path, first.query) == ("POST", "/echo", "x=1&y=%20z")
    assert first.headers["authorization"] == f"Bearer {TOKEN}"
    assert first.headers["x-twice"] == "a, b" and ("x-twice", "b") in first.raw_headers
    assert first.json == {"k": "v"} and first.body == b'{"k":"v"}'
    assert (second.path, second.json, second.body) == ("/nowhere", None, b"")
    assert fake_echo.requests_to("/echo", "post") == [first]
    assert fake_echo.saw(TOKEN) and fake_echo.requests_containing(TOKEN) == [first]
    assert not fake_echo.saw("never-sent")


def test_saw_searches_query_and_body_too(fake_echo: FakeEcho, http: httpx.Client) -> None:
    http.get(f"{fake_echo.url}/echo", params={"q": TOKEN})
    http.post(f"{fake_echo.url}/echo", content=b"body-secret")
    assert fake_echo.saw(TOKEN) and fake_echo.saw(b"body-secret")


def test_recording_is_thread_safe(fake_echo: FakeEcho, http: httpx.Client) -> None:
    def hit(i: int) -> None:
        for j in range(5):
            http.get(f"{fake_echo.url}/echo", params={"n": f"{i}-{j}"})

    threads = [threading.Thread(target=hit, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.query for r in fake_echo.requests) == sorted(f"n={i}-{j}" for i in range(8) for j in range(5))


def test_fail_next_answers_once_then_the_route_runs(fake_slack: FakeSlack, http: httpx.Client) -> None:
    url = f"{fake_slack.url}/api/auth.test"
    fake_slack.fail_next(503, {"ok": False, "error": "internal_error"}, headers={"X-Extra": "1"}, path="/api/auth.test")
    failed = http.post(url, headers=bearer(SLACK_TOKEN))
    assert (failed.status_code, failed.json()["error"], failed.headers["x-extra"]) == (503, "internal_error", "1")
    assert http.post(url, headers=bearer(SLACK_TOKEN)).json()["ok"] is True
    assert len(fake_slack.requests) == 2


def test_reset_forgets_traffic_and_restores_configuration(fake_slack: FakeSlack, http: httpx.Client) -> None:
    fake_slack.valid_tokens = {"xoxb-other"}
    fake_slack.revoked_tokens.add(SLACK_TOKEN)
    fake_slack.fail_next(500)
    http.post(f"{fake_slack.url}/api/auth.test", headers=bearer("xoxb-other"))
    post_message(http, fake_slack, {"channel": "C1", "text": "x"}, "xoxb-other")
    assert fake_slack.requests and fake_slack.messages
    fake_slack.reset()
    assert fake_slack.requests == [] and fake_slack.messages == []
    assert fake_slack.valid_tokens == {SLACK_TOKEN} and fake_slack.revoked_tokens == set()
    assert http.post(f"{fake_slack.url}/api/auth.test", headers=bearer(SLACK_TOKEN)).status_code == 200


# -- Slack ------------------------------------------------------------------------------------


def post_message(http: httpx.Client, fake: FakeSlack, payload: dict[str, Any], token: str | None = SLACK_TOKEN
                 ) -> httpx.Response:
    headers = bearer(token) if token else {}
    return http.post(f"{fake.url}/api/chat.postMessage", json=payload, headers=headers)


def test_slack_posts_with_a_bearer_token(fake_slack: FakeSlack, fake_echo: FakeEcho, http: httpx.Client) -> None:
    first = post_message(http, fake_slack, {"channel": "C123", "text": "hello"})
    second = post_message(http, fake_slack, {"channel": "C123", "text": "again", "thread_ts": first.json()["ts"]})
    assert first.status_code == 200 and "chat:write" in first.headers["x-oauth-scopes"]
    body = first.json()
    assert body["ok"] is True and body["channel"] == "C123" and body["message"]["text"] == "hello"
    assert body["ts"] != second.json()["ts"]
    one, two = fake_slack.messages
    assert (one.channel, one.text, one.token, one.auth) == ("C123", "hello", SLACK_TOKEN, "header")
    assert two.thread_ts == body["ts"]
    assert fake_slack.requests[0].headers["authorization"] == f"Bearer {SLACK_TOKEN}"
    assert fake_slack.saw(SLACK_TOKEN) and not fake_echo.saw(SLACK_TOKEN)


def test_slack_accepts_a_form_token_and_form_blocks(fake_slack: FakeSlack, http: httpx.Client) -> None:
    blocks = '[{"type":"section","text":{"type":"mrkdwn","text":"hi"}}]'
    response = http.post(f"{fake_slack.url}/api/chat.postMessage",
                         data={"token": SLACK_TOKEN, "channel": "general", "blocks": blocks})
    assert response.json()["ok"] is True
    message = fake_slack.messages[0]
    assert message.auth == "form" and message.blocks[0]["type"] == "section" and message.text is None
    assert "token" not in message.payload


@pytest.mark.parametrize(
    ("token", "payload", "error"),
    [
        (None, {"channel": "C1", "text": "x"}, "not_authed"),
        (None, {"channel": "C1", "text": "x", "token": SLACK_TOKEN}, "not_authed"),  # JSON bodies need the header
        ("xoxb-unknown", {"channel": "C1", "text": "x"}, "invalid_auth"),
        (SLACK_TOKEN, {"text": "x"}, "channel_not_found"),
        (SLACK_TOKEN, {"channel": "C1"}, "no_text"),
        (SLACK_TOKEN, {"channel": "C1", "text": ""}, "no_text"),
    ],
)
def test_slack_errors_are_http_200_with_ok_false(
    fake_slack: FakeSlack, http: httpx.Client, token: str | None, payload: dict[str, Any], error: str
) -> None:
    response = post_message(http, fake_slack, payload, token)
    assert (response.status_code, response.json()) == (200, {"ok": False, "error": error})
    assert fake_slack.messages == []


def test_slack_revoked_and_replaced_tokens(fake_slack: FakeSlack, http: httpx.Client) -> None:
    fake_slack.revoked_tokens.add(SLACK_TOKEN)
    assert post_message(http, fake_slack, {"channel": "C1", "text": "x"}).json()["error"] == "token_revoked"
    fake_slack.valid_tokens = {"xoxp-user"}
    assert post_message(http, fake_slack, {"channel": "C1", "text": "x"}, "xoxp-user").json()["ok"] is True


def test_slack_invalid_json(fake_slack: FakeSlack, http: httpx.Client) -> None:
    response = http.post(f"{fake_slack.url}/api/chat.postMessage", content=b"{nope",
                         headers={**bearer(SLACK_TOKEN), "Content-Type": "application/json; charset=utf-8"})
    assert response.json() == {"ok": False, "error": "invalid_json"}


def test_slack_rate_limits_channel_c_rate(fake_slack: FakeSlack, http: httpx.Client) -> None:
    response = post_message(http, fake_slack, {"channel": "C_RATE", "text": "x"})
    assert (response.status_code, response.headers["retry-after"]) == (429, "1")
    assert response.json() == {"ok": False, "error": "ratelimited"}
    assert fake_slack.messages == []


def test_slack_auth_test(fake_slack: FakeSlack, http: httpx.Client) -> None:
    ok = http.post(f"{fake_slack.url}/api/auth.test", headers=bearer(SLACK_TOKEN))
    assert ok.json()["ok"] is True and ok.json()["team_id"] and ok.headers["x-oauth-scopes"]
    bad = http.post(f"{fake_slack.url}/api/auth.test", headers=bearer("xoxb-nope"))
    assert (bad.status_code, bad.json()) == (200, {"ok": False, "error": "invalid_auth"})
    assert http.post(f"{fake_slack.url}/api/auth.test").json()["error"] == "not_authed"


# -- SendGrid ---------------------------------------------------------------------------------

MAIL = {
    "personalizations": [{"to": [{"email": "ada@example.com"}, {"email": "bob@example.com", "name": "Bob"}]}],
    "from": {"email": "noreply@example.com"},
    "subject": "Hi",
    "content": [{"type": "text/plain", "value": "plain"}, {"type": "text/html", "value": "<p>html</p>"}],
}


def send(http: httpx.Client, fake: FakeSendGrid, payload: Any, key: str | None = SENDGRID_KEY) -> httpx.Response:
    return http.post(f"{fake.url}/v3/mail/send", json=payload, headers=bearer(key) if key else {})


def test_sendgrid_accepts_with_202_and_a_message_id(fake_sendgrid: FakeSendGrid, http: httpx.Client) -> None:
    first, second = send(http, fake_sendgrid, MAIL), send(http, fake_sendgrid, MAIL)
    assert (first.status_code, first.content) == (202, b"")
    assert first.headers["x-message-id"] and first.headers["x-message-id"] != second.headers["x-message-id"]
    mail = fake_sendgrid.mails[0]
    assert (mail.key, mail.message_id, mail.to) == (SENDGRID_KEY, first.headers["x-message-id"],
                                                    ["ada@example.com", "bob@example.com"])
    assert (mail.from_email, mail.subject, mail.template_id) == ("noreply@example.com", "Hi", None)


def test_sendgrid_template_replaces_content(fake_sendgrid: FakeSendGrid, http: httpx.Client) -> None:
    payload = {k: v for k, v in MAIL.items() if k != "content"} | {"template_id": "d-0123456789abcdef"}
    assert send(http, fake_sendgrid, payload).status_code == 202
    bad = send(http, fake_sendgrid, payload | {"template_id": "0123-legacy"})
    assert bad.status_code == 400 and [e["field"] for e in bad.json()["errors"]] == ["template_id"]


@pytest.mark.parametrize(
    ("payload", "fields"),
    [
        ({}, ["personalizations", "from.email", "content"]),
        ({**MAIL, "personalizations": [{"to": []}]}, ["personalizations.0.to"]),
        ({**MAIL, "personalizations": [{"to": [{"name": "no address"}]}]}, ["personalizations.0.to.0.email"]),
        ({**MAIL, "from": {"name": "no address"}}, ["from.email"]),
        ({**MAIL, "content": [{"type": "text/html", "value": "h"}, {"type": "text/plain", "value": "p"}]}, ["content"]),
        ("not an object", [None]),
    ],
)
def test_sendgrid_validation_errors(
    fake_sendgrid: FakeSendGrid, http: httpx.Client, payload: Any, fields: list[str | None]
) -> None:
    response = send(http, fake_sendgrid, payload)
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert [e["field"] for e in errors] == fields
    assert all(set(e) == {"message", "field", "help"} and e["help"] is None and e["message"] for e in errors)
    assert fake_sendgrid.mails == []


def test_sendgrid_auth_errors(fake_sendgrid: FakeSendGrid, http: httpx.Client) -> None:
    invalid = send(http, fake_sendgrid, MAIL, "SG.wrong")
    assert (invalid.status_code, invalid.json()) == (
        401, {"errors": [{"message": INVALID_AUTH, "field": None, "help": None}]})
    assert INVALID_AUTH == "The provided authorization grant is invalid, expired, or revoked"
    missing = send(http, fake_sendgrid, MAIL, None)
    assert (missing.status_code, missing.json()["errors"][0]["message"]) == (401, MISSING_AUTH)
    fake_sendgrid.scopes = ["alerts.read"]
    forbidden = send(http, fake_sendgrid, MAIL)
    assert (forbidden.status_code, forbidden.json()["errors"][0]["message"]) == (403, "access forbidden")
    assert fake_sendgrid.mails == []


def test_sendgrid_scopes(fake_sendgrid: FakeSendGrid, http: httpx.Client) -> None:
    ok = http.get(f"{fake_sendgrid.url}/v3/scopes", headers=bearer(SENDGRID_KEY))
    assert (ok.status_code, ok.json()) == (200, {"scopes": ["mail.send"]})
    assert http.get(f"{fake_sendgrid.url}/v3/scopes", headers=bearer("SG.bad")).status_code == 401


# -- Echo -------------------------------------------------------------------------------------


def test_echo_reflects_the_request(fake_echo: FakeEcho, http: httpx.Client) -> None:
    response = http.put(f"{fake_echo.url}/echo?a=1&a=2&b=", json={"x": 1}, headers=bearer(TOKEN))
    body = response.json()
    assert (body["method"], body["path"], body["query"]) == ("PUT", "/echo", "a=1&a=2&b=")
    assert body["args"] == {"a": ["1", "2"], "b": ""}
    assert body["headers"]["authorization"] == f"Bearer {TOKEN}"
    assert (body["body"], body["json"]) == ('{"x":1}', {"x": 1})


def test_echo_derived_forms_of_the_token(fake_echo: FakeEcho, http: httpx.Client) -> None:
    b64 = http.get(f"{fake_echo.url}/echo/b64", headers=bearer(TOKEN)).json()
    assert base64.b64decode(b64["token_b64"]).decode() == TOKEN and "+" in b64["token_b64"] + TOKEN
    assert http.get(f"{fake_echo.url}/echo/urlenc", headers=bearer(TOKEN)).json() == {
        "q": "tok%2Ben%2Fwith%3Dodd%26chars%3F0123456789"}
    assert http.get(f"{fake_echo.url}/echo/hex", headers=bearer(TOKEN)).json() == {"token_hex": TOKEN.encode().hex()}
    assert http.get(f"{fake_echo.url}/echo/b64").status_code == 400


def test_echo_streams_the_authorization_header_in_chunks(fake_echo: FakeEcho, http: httpx.Client) -> None:
    value = f"Bearer {TOKEN}"
    with http.stream("GET", f"{fake_echo.url}/stream", params={"chunk": 5, "delay_ms": 5},
                     headers={"Authorization": value}) as response:
        assert response.headers["content-type"].startswith("text/plain")
        chunks = list(response.iter_raw())
    assert b"".join(chunks) == value.encode()
    assert chunks == [value.encode()[i:i + 5] for i in range(0, len(value), 5)]


def test_echo_status_codes(fake_echo: FakeEcho, http: httpx.Client) -> None:
    unavailable = http.post(f"{fake_echo.url}/status/503", params={"retry_after": "2"})
    assert (unavailable.status_code, unavailable.headers["retry-after"]) == (503, "2")
    assert "error" in unavailable.json()
    assert http.get(f"{fake_echo.url}/status/404").json()["error"]
    empty = http.get(f"{fake_echo.url}/status/204")
    assert (empty.status_code, empty.content) == (204, b"")


def test_echo_redirects(fake_echo: FakeEcho, http: httpx.Client) -> None:
    target = f"{fake_echo.url}/text"
    moved = http.get(f"{fake_echo.url}/redirect", params={"to": target, "code": 307})
    assert (moved.status_code, moved.headers["location"]) == (307, target)
    followed = http.get(f"{fake_echo.url}/redirect", params={"to": target}, follow_redirects=True)
    assert followed.history[0].status_code == 302 and followed.text == "Hello from FakeEcho.\n"
    assert [r.path for r in fake_echo.requests] == ["/redirect", "/redirect", "/text"]


def test_echo_slow_and_its_cap(fake_echo: FakeEcho, http: httpx.Client) -> None:
    assert http.get(f"{fake_echo.url}/slow", params={"ms": 10}).json() == {"slept_ms": 10}
    with pytest.raises(httpx.ReadTimeout):
        http.get(f"{fake_echo.url}/slow", params={"ms": 300}, timeout=0.05)
    fake_echo.slow_cap_ms = 20
    assert http.get(f"{fake_echo.url}/slow", params={"ms": 60_000}).json() == {"slept_ms": 20}


def test_echo_text_and_json(fake_echo: FakeEcho, http: httpx.Client) -> None:
    text = http.get(f"{fake_echo.url}/text")
    assert text.headers["content-type"].startswith("text/plain") and text.text == "Hello from FakeEcho.\n"
    assert http.post(f"{fake_echo.url}/json", json={"a": [1, 2]}).json() == {"a": [1, 2]}
    assert http.post(f"{fake_echo.url}/json", content=b"nope").status_code == 400
