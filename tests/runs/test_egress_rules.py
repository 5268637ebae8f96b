"""Egress rules seen from a run (SPEC §6): a blocked request fails its node with a reason that says
what to change, nothing reaches the target, and the blocked-egress log names the node, the host and
the URL — with no secret value in it.

Targets that must never be reached are real listeners (a FakeEcho on 127.0.0.1, a bare socket on
[::1]), so "nothing reached the target" is observed, not assumed. The run settings exempt only the
fakes' 127.0.0.2 from the private-address block; two tests add 127.0.0.3 (a second FakeEcho) to show
that credential host binding still holds where the address block does not.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient

from flowvault.app import create_app
from flowvault.config import Settings
from tests.conftest import Actor, sign_up
from tests.fakes import FakeEcho, FakeSlack
from tests.runs.conftest import allow_hosts, create_workflow, run_and_wait, secret

ALLOW_PRIVATE_HINT = "FLOWVAULT_ALLOW_PRIVATE_HOSTS"
OTHER_HOST = "127.0.0.3"


class Sentinel:
    """A listening socket that nothing may connect to. A connection waits in the backlog even though
    nobody accepts it, so a non-blocking accept afterwards tells whether anything got through."""

    def __init__(self, family: socket.AddressFamily, host: str) -> None:
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.bind((host, 0))
        self.sock.listen(8)
        self.sock.setblocking(False)
        self.port: int = self.sock.getsockname()[1]

    def connections(self) -> int:
        count = 0
        while True:
            try:
                accepted, _ = self.sock.accept()
            except BlockingIOError:
                return count
            accepted.close()
            count += 1

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(scope="module")
def loopback_server() -> Iterator[FakeEcho]:
    """A FakeEcho on 127.0.0.1, which the run settings do NOT exempt: it must never hear from a run."""
    with FakeEcho(host="127.0.0.1") as server:
        yield server


@pytest.fixture
def loopback_echo(loopback_server: FakeEcho) -> FakeEcho:
    loopback_server.reset()
    return loopback_server


@pytest.fixture(scope="module")
def other_server() -> Iterator[FakeEcho]:
    """A FakeEcho on 127.0.0.3: reachable only where a test's own settings exempt that address."""
    with FakeEcho(host=OTHER_HOST) as server:
        yield server


@pytest.fixture
def other_echo(other_server: FakeEcho) -> FakeEcho:
    other_server.reset()
    return other_server


@pytest.fixture
def ipv6_sentinel() -> Iterator[Sentinel]:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    try:
        sentinel = Sentinel(socket.AF_INET6, "::1")
    except OSError as exc:
        pytest.skip(f"cannot listen on [::1]: {exc}")
    yield sentinel
    sentinel.close()


@contextmanager
def owner_with_exempted_other_host(settings: Settings) -> Iterator[Actor]:
    """An app whose operator also exempts 127.0.0.3, and a signed-up owner."""
    widened = settings.model_copy(update={"allow_private_hosts": f"{settings.allow_private_hosts},{OTHER_HOST}"})
    assert widened.private_host_exemptions == {"127.0.0.2", OTHER_HOST}
    with TestClient(create_app(widened)) as client:
        yield sign_up(client, f"owner-{uuid4().hex[:8]}@example.com")


def call_flow(url: str, *, credential_id: str | None = None, name: str = "Call", **config: Any) -> dict[str, Any]:
    """Manual trigger → one HTTP Request node (bearer auth when a credential is given)."""
    node_config: dict[str, Any] = {"method": "GET", "url": url, **config}
    if credential_id is not None:
        node_config |= {"auth": "bearer", "credential_id": credential_id}
    return {
        "nodes": [
            {"id": "t", "type": "manual_trigger", "name": "Start", "config": {}},
            {"id": "h", "type": "http_request", "name": name, "config": node_config},
        ],
        "edges": [{"source": "t", "target": "h"}],
    }


def slack_flow(credential_id: str) -> dict[str, Any]:
    return {
        "nodes": [
            {"id": "t", "type": "manual_trigger", "name": "Start", "config": {}},
            {"id": "s", "type": "slack", "name": "Notify",
             "config": {"channel": "C123", "text": "hello", "credential_id": credential_id}},
        ],
        "edges": [{"source": "t", "target": "s"}],
    }


def run_flow(actor: Actor, graph: dict[str, Any]) -> dict[str, Any]:
    return run_and_wait(actor, create_workflow(actor, graph, name=f"Egress {uuid4().hex[:6]}")["id"])


def blocked_entries(actor: Actor, run_id: str) -> tuple[list[dict[str, Any]], str]:
    """This run's entries in the blocked-egress log, and the whole response text (to scan for secrets)."""
    response = actor.get(f"/api/v1/workspaces/{actor.workspace_id}/logs/blocked-egress")
    assert response.status_code == 200, response.text
    return [e for e in response.json()["items"] if e["run_id"] == run_id], response.text


def secret_spellings(value: str) -> list[str]:
    """The value and the random core that makes it distinctive (a partial leak shows the core)."""
    return [value, value.rsplit("-", 1)[-1]]


def assert_blocked(
    actor: Actor,
    run: dict[str, Any],
    *,
    kind: str,
    host: str,
    url: str,
    says: tuple[str, ...],
    node: str = "Call",
    secrets: tuple[str, ...] = (),
) -> dict[str, Any]:
    """The run failed at ``node`` because of one blocked request, recorded as described; returns the entry."""
    assert run["status"] == "failed", run
    assert run["error"].startswith(f"Node '{node}' failed: "), run["error"]
    failed = [s for s in run["steps"] if s["status"] == "failed"]
    assert [s["node_name"] for s in failed] == [node], run["steps"]
    for phrase in says:
        assert phrase in failed[0]["error"], (phrase, failed[0]["error"])
    entries, text = blocked_entries(actor, run["id"])
    assert len(entries) == 1, entries
    entry = entries[0]
    assert (entry["kind"], entry["host"], entry["node_name"], entry["url"]) == (kind, host, node, url), entry
    assert entry["workflow_id"] == run["workflow_id"] and entry["node_id"] == failed[0]["node_id"]
    assert entry["reason"] == failed[0]["error"]
    for value in secrets:
        for spelling in secret_spellings(value):
            assert spelling not in text, f"a secret value is in the blocked-egress log: {text}"
            assert spelling not in str(run), f"a secret value is in the run record: {run}"
    return entry


# -- allowlist -------------------------------------------------------------------------------------


def test_host_not_on_the_allowlist_is_blocked_and_logged_without_the_secret(
    signup: Any, fake_echo: FakeEcho
) -> None:
    owner: Actor = signup("owner@example.com")
    token, key = f"canary-bearer-{uuid4().hex}", f"canary-query-{uuid4().hex}"
    bearer_id = secret(owner, "http_bearer", "Echo API", token=token)
    secret(owner, "http_bearer", "query_key", token=key)
    graph = call_flow(f"{fake_echo.url}/echo", credential_id=bearer_id, query={"key": "{{secrets.query_key}}"})

    run = run_flow(owner, graph)  # the workspace allowlist is empty: nothing is allowed

    entry = assert_blocked(
        owner,
        run,
        kind="allowlist",
        host=fake_echo.host,
        url=f"{fake_echo.url}/echo?key=[REDACTED:query_key]",
        says=("127.0.0.2 is not on this workspace's egress allowlist", "add it in Settings → Engine"),
        secrets=(token, key),
    )
    assert entry["run_id"] == run["id"]
    assert fake_echo.requests == []
    # Control: once allowed, the same workflow reaches the echo with both secrets.
    allow_hosts(owner, fake_echo.host)
    assert run_and_wait(owner, run["workflow_id"])["status"] == "succeeded"
    assert fake_echo.requests[0].headers["authorization"] == f"Bearer {token}"
    assert fake_echo.requests[0].query == f"key={key}"


def test_secret_templated_into_the_host_name_is_blocked_and_logged_redacted(signup: Any) -> None:
    """A template that would carry a secret out in the host name (where DNS would see it) is blocked
    before any lookup, and the log shows the host with the secret masked."""
    owner: Actor = signup("owner@example.com")
    key = f"canary{uuid4().hex}"  # lower case: a host name is compared lower-cased
    secret(owner, "http_bearer", "host_key", token=key)

    run = run_flow(owner, call_flow("http://{{secrets.host_key}}.example.com/collect"))

    assert_blocked(
        owner,
        run,
        kind="allowlist",
        host="[REDACTED:host_key].example.com",
        url="http://[REDACTED:host_key].example.com/collect",
        says=("[REDACTED:host_key].example.com is not on this workspace's egress allowlist",),
        secrets=(key,),
    )


# -- private addresses -----------------------------------------------------------------------------

PRIVATE_TARGETS = [
    pytest.param("http://127.0.0.1:{v4}/echo", "127.0.0.1", ("127.0.0.1 is a loopback address",), id="ipv4-loopback"),
    pytest.param("http://10.0.0.1/", "10.0.0.1", ("10.0.0.1 is a private network address",), id="rfc1918"),
    pytest.param(
        "http://169.254.169.254/latest/meta-data/",
        "169.254.169.254",
        ("169.254.169.254 is a cloud metadata address", "requests to cloud metadata services are blocked"),
        id="cloud-metadata",
    ),
    pytest.param("http://[::1]:{v6}/", "::1", ("::1 is a loopback address",), id="ipv6-loopback"),
    pytest.param(
        "http://localhost:{v4}/echo", "localhost", ("localhost resolves to", "a loopback address"), id="localhost-name"
    ),
]


@pytest.mark.parametrize(("template", "host", "says"), PRIVATE_TARGETS)
def test_private_addresses_are_blocked_even_when_allowlisted(
    signup: Any,
    fake_echo: FakeEcho,
    loopback_echo: FakeEcho,
    ipv6_sentinel: Sentinel,
    template: str,
    host: str,
    says: tuple[str, ...],
) -> None:
    owner: Actor = signup("owner@example.com")
    token = f"canary-bearer-{uuid4().hex}"
    bearer_id = secret(owner, "http_bearer", "Echo API", token=token)
    allow_hosts(owner, fake_echo.host, "127.0.0.1", "10.0.0.1", "169.254.169.254", "::1", "localhost")
    url = template.format(v4=loopback_echo.port, v6=ipv6_sentinel.port)

    run = run_flow(owner, call_flow(url, credential_id=bearer_id))

    assert_blocked(
        owner,
        run,
        kind="private_address",
        host=host,
        url=url,
        says=(*says, "blocked"),
        secrets=(token,),
    )
    if host != "169.254.169.254":  # metadata is refused outright; the rest says what an operator could change
        assert ALLOW_PRIVATE_HINT in run["error"]
    assert loopback_echo.requests == [] and ipv6_sentinel.connections() == 0 and fake_echo.requests == []


def test_the_operator_exemption_covers_only_the_exempted_address(
    signup: Any, settings: Settings, fake_echo: FakeEcho, loopback_echo: FakeEcho
) -> None:
    """In the very settings that let runs reach 127.0.0.2, 127.0.0.1 and localhost stay blocked."""
    assert settings.private_host_exemptions == {fake_echo.host}
    owner: Actor = signup("owner@example.com")
    allow_hosts(owner, fake_echo.host, "127.0.0.1", "localhost")

    assert run_flow(owner, call_flow(f"{fake_echo.url}/echo"))["status"] == "succeeded"  # control
    loopback = run_flow(owner, call_flow(f"http://127.0.0.1:{loopback_echo.port}/echo"))
    by_name = run_flow(owner, call_flow(f"http://localhost:{loopback_echo.port}/echo"))

    assert_blocked(owner, loopback, kind="private_address", host="127.0.0.1",
                   url=f"http://127.0.0.1:{loopback_echo.port}/echo", says=("loopback",))
    assert_blocked(owner, by_name, kind="private_address", host="localhost",
                   url=f"http://localhost:{loopback_echo.port}/echo", says=("localhost resolves to", "loopback"))
    assert len(fake_echo.requests) == 1
    assert loopback_echo.requests == []


# -- redirects -------------------------------------------------------------------------------------


def test_redirect_to_a_private_address_is_blocked_at_the_hop(
    signup: Any, fake_echo: FakeEcho, loopback_echo: FakeEcho
) -> None:
    owner: Actor = signup("owner@example.com")
    token = f"canary-bearer-{uuid4().hex}"
    bearer_id = secret(owner, "http_bearer", "Echo API", token=token)
    allow_hosts(owner, fake_echo.host, "127.0.0.1")  # allowlisted: only the address block can stop the hop
    target = f"http://127.0.0.1:{loopback_echo.port}/echo"

    run = run_flow(owner, call_flow(f"{fake_echo.url}/redirect", credential_id=bearer_id,
                                    query={"to": target, "code": "302"}))

    assert_blocked(
        owner,
        run,
        kind="private_address",
        host="127.0.0.1",
        url=target,
        says=("127.0.0.1 is a loopback address", "redirected there by 127.0.0.2"),
        secrets=(token,),
    )
    assert [r.path for r in fake_echo.requests] == ["/redirect"]  # the allowed first hop happened
    assert loopback_echo.requests == []


def test_slack_token_redirected_to_another_host_is_blocked_by_credential_binding(
    settings: Settings, fake_slack: FakeSlack, fake_echo: FakeEcho, other_echo: FakeEcho
) -> None:
    """127.0.0.3 is exempted by the operator and on the workspace allowlist, so neither the address
    block nor the allowlist stops a redirect there: only the Slack token's host binding does."""
    token = f"xoxb-canary-{uuid4().hex}"
    fake_slack.valid_tokens = {token}
    with owner_with_exempted_other_host(settings) as owner:
        allow_hosts(owner, OTHER_HOST)
        slack_id = secret(owner, "slack_token", "Team Slack", token=token)
        # Control: under these settings 127.0.0.3 is reachable (a plain request, no credential).
        assert run_flow(owner, call_flow(f"{other_echo.url}/echo"))["status"] == "succeeded"
        assert len(other_echo.requests) == 1
        fake_slack.fail_next(307, headers={"location": f"{other_echo.url}/collect"}, path="/api/chat.postMessage")

        run = run_flow(owner, slack_flow(slack_id))

        assert_blocked(
            owner,
            run,
            kind="credential_host",
            host=OTHER_HOST,
            url=f"{other_echo.url}/collect",
            node="Notify",
            says=(f"may only be sent to {fake_slack.host}", f"{OTHER_HOST} is not one of them",
                  "redirected there by 127.0.0.2"),
            secrets=(token,),
        )
    assert fake_slack.requests[0].headers["authorization"] == f"Bearer {token}"  # it did reach Slack
    assert fake_slack.messages == []
    assert len(other_echo.requests) == 1 and not other_echo.saw(token)
    assert fake_echo.requests == []


def test_http_credential_follows_a_redirect_only_to_allowlisted_hosts(
    settings: Settings, fake_echo: FakeEcho, other_echo: FakeEcho
) -> None:
    """An HTTP credential's hosts are the workspace allowlist (SPEC §6). A redirect to a host that is
    exempted from the address block but not allowlisted is refused at the hop, before the token is
    sent. A redirect to another allowlisted host is within the credential's binding: the token goes
    there, and the record masks it where that host echoes it back."""
    token = f"canary-bearer-{uuid4().hex}"
    with owner_with_exempted_other_host(settings) as owner:
        bearer_id = secret(owner, "http_bearer", "Echo API", token=token)
        allow_hosts(owner, fake_echo.host)
        graph = call_flow(f"{fake_echo.url}/redirect", credential_id=bearer_id,
                          query={"to": f"{other_echo.url}/echo", "code": "307"})
        workflow = create_workflow(owner, graph)

        refused = run_and_wait(owner, workflow["id"])

        assert_blocked(
            owner,
            refused,
            kind="allowlist",
            host=OTHER_HOST,
            url=f"{other_echo.url}/echo",
            says=(f"{OTHER_HOST} is not on this workspace's egress allowlist", "redirected there by 127.0.0.2"),
            secrets=(token,),
        )
        assert other_echo.requests == []
        assert fake_echo.requests[0].headers["authorization"] == f"Bearer {token}"

        allow_hosts(owner, fake_echo.host, OTHER_HOST)
        followed = run_and_wait(owner, workflow["id"])

    assert followed["status"] == "succeeded", followed
    assert [r.headers.get("authorization") for r in other_echo.requests] == [f"Bearer {token}"]
    output = followed["steps"][-1]["output"]
    assert output["body"]["headers"]["authorization"] == "Bearer [REDACTED:Echo API]"
    assert token not in str(followed)
