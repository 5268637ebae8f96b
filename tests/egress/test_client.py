"""The client: pinning (and so DNS rebinding), redirects hop by hop, credential host binding,
header handling and streaming, against ``httpx.MockTransport``."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from flowvault.egress import EgressBlocked

from .conftest import Harness

pytestmark = pytest.mark.asyncio

PUBLIC = "93.184.216.34"
PUBLIC_2 = "93.184.216.35"


def redirect_to(location: str, status: int = 302) -> Callable[[httpx.Request], httpx.Response]:
    """First host answers with a redirect; every other host answers 200 with what it received."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.headers["Host"] == "start.example":
            return httpx.Response(status, headers={"Location": location})
        return httpx.Response(200, json={"method": request.method, "body": request.content.decode()})

    return handler


# -- pinning ------------------------------------------------------------------------------------------


async def test_request_goes_to_the_checked_address_with_the_host_header(make_harness: Callable[..., Harness]) -> None:
    harness = make_harness(dns={"api.example": [[PUBLIC]]})
    response = await harness.client.request("GET", "http://api.example:8080/v1/items?x=1", params={"page": "2"})
    sent = harness.recorder.requests[0]
    assert str(sent.url) == f"http://{PUBLIC}:8080/v1/items?x=1&page=2"
    assert sent.headers["Host"] == "api.example:8080"
    assert "sni_hostname" not in sent.extensions  # plain http
    assert str(response.url) == "http://api.example:8080/v1/items?x=1&page=2"
    assert response.request.extensions["egress_address"] == PUBLIC


async def test_https_names_the_host_for_tls(make_harness: Callable[..., Harness]) -> None:
    harness = make_harness(dns={"api.example": [["2606:4700::1"]]})
    response = await harness.client.request("POST", "https://api.example/x", json={"a": 1})
    sent = harness.recorder.requests[0]
    assert str(sent.url) == "https://[2606:4700::1]/x"
    assert sent.headers["Host"] == "api.example"
    assert sent.extensions["sni_hostname"] == "api.example"
    assert sent.content == b'{"a":1}'
    assert response.url == httpx.URL("https://api.example/x")


async def test_ip_literal_https_uses_no_server_name(make_harness: Callable[..., Harness]) -> None:
    harness = make_harness(allowed=(PUBLIC,))
    await harness.client.request("GET", f"https://{PUBLIC}/")
    assert "sni_hostname" not in harness.recorder.requests[0].extensions
    assert harness.resolver.calls == []


async def test_dns_rebinding_cannot_swap_the_checked_address(make_harness: Callable[..., Harness]) -> None:
    # The attacker's DNS answers a public address first, then 127.0.0.1 with a zero TTL.
    harness = make_harness(dns={"rebind.example": [[PUBLIC], ["127.0.0.1"]]})
    response = await harness.client.request("GET", "http://rebind.example/secret")
    assert response.status_code == 200
    assert harness.resolver.calls == ["rebind.example"]  # one lookup for the hop, no second one at connect
    sent = harness.recorder.requests[0]
    assert sent.url.host == PUBLIC
    assert sent.headers["Host"] == "rebind.example"
    # The next request looks the name up again, sees the private answer and is refused.
    with pytest.raises(EgressBlocked) as caught:
        await harness.client.request("GET", "http://rebind.example/secret")
    assert caught.value.kind == "private_address"
    assert len(harness.recorder.requests) == 1


async def test_connect_failure_falls_back_to_the_next_checked_address(make_harness: Callable[..., Harness]) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "2606:4700::1":
            raise httpx.ConnectError("network unreachable", request=request)
        return httpx.Response(200)

    harness = make_harness(dns={"dual.example": [["2606:4700::1", PUBLIC]]}, handler=handler)
    response = await harness.client.request("GET", "http://dual.example/")
    assert [r.url.host for r in harness.recorder.requests] == ["2606:4700::1", PUBLIC]
    assert response.request.extensions["egress_address"] == PUBLIC


async def test_user_supplied_host_header_is_replaced(make_harness: Callable[..., Harness]) -> None:
    harness = make_harness(dns={"api.example": [[PUBLIC]]})
    await harness.client.request("GET", "http://api.example/", headers={"Host": "internal.corp"})
    assert harness.recorder.requests[0].headers.get_list("Host") == ["api.example"]


async def test_cookies_are_never_kept(make_harness: Callable[..., Harness]) -> None:
    handler = lambda request: httpx.Response(200, headers={"Set-Cookie": "session=abc; Path=/"})  # noqa: E731
    harness = make_harness(dns={"api.example": [[PUBLIC]]}, handler=handler)
    await harness.client.request("GET", "http://api.example/")
    await harness.client.request("GET", "http://api.example/")
    assert "Cookie" not in harness.recorder.requests[1].headers


async def test_stream_yields_an_unread_response(make_harness: Callable[..., Harness]) -> None:
    handler = lambda request: httpx.Response(200, content=b"x" * 100_000)  # noqa: E731
    harness = make_harness(dns={"files.example": [[PUBLIC]]}, handler=handler)
    received = 0
    async with harness.client.stream("GET", "http://files.example/big") as response:
        assert response.url == httpx.URL("http://files.example/big")
        async for chunk in response.aiter_bytes():
            received += len(chunk)
    assert received == 100_000
    assert response.is_closed


# -- redirects ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_redirect_to_a_private_target_is_blocked_at_the_hop(
    make_harness: Callable[..., Harness], status: int
) -> None:
    harness = make_harness(
        dns={"start.example": [[PUBLIC]], "internal.example": [["10.0.0.5"]]},
        handler=redirect_to("http://internal.example/admin", status),
    )
    with pytest.raises(EgressBlocked) as caught:
        await harness.client.request("POST", "http://start.example/", content=b"payload")
    assert caught.value.kind == "private_address"
    assert caught.value.reason.endswith("(redirected there by start.example)")
    assert caught.value.host == "internal.example"
    assert len(harness.recorder.requests) == 1
    assert harness.blocked == [caught.value]


@pytest.mark.parametrize(
    ("location", "kind"),
    [
        ("http://169.254.169.254/latest/meta-data/", "private_address"),
        ("http://[::1]:8080/", "private_address"),
        ("http://2130706433/", "private_address"),
        ("http://evil.example@127.0.0.1/", "userinfo"),
        ("file:///etc/passwd", "scheme"),
        ("http://elsewhere.net/", "allowlist"),
    ],
)
async def test_every_hop_gets_the_full_check(make_harness: Callable[..., Harness], location: str, kind: str) -> None:
    harness = make_harness(dns={"start.example": [[PUBLIC]]}, handler=redirect_to(location))
    with pytest.raises(EgressBlocked) as caught:
        await harness.client.request("GET", "http://start.example/")
    assert caught.value.kind == kind
    assert len(harness.recorder.requests) == 1


@pytest.mark.parametrize(
    ("status", "method", "body"),
    [(301, "GET", ""), (302, "GET", ""), (303, "GET", ""), (307, "POST", "payload"), (308, "POST", "payload")],
)
async def test_redirect_method_and_body(
    make_harness: Callable[..., Harness], status: int, method: str, body: str
) -> None:
    harness = make_harness(
        dns={"start.example": [[PUBLIC]], "next.example": [[PUBLIC_2]]},
        handler=redirect_to("http://next.example/landing", status),
    )
    response = await harness.client.request(
        "POST", "http://start.example/form", content=b"payload", headers={"Content-Type": "text/plain"}
    )
    assert response.json() == {"method": method, "body": body}
    second = harness.recorder.requests[1]
    assert second.url == httpx.URL(f"http://{PUBLIC_2}/landing")
    assert second.headers["Host"] == "next.example"
    assert ("Content-Type" in second.headers) is (method == "POST")
    assert response.url == httpx.URL("http://next.example/landing")
    assert [r.status_code for r in response.history] == [status]
    assert response.history[0].url == httpx.URL("http://start.example/form")


async def test_head_stays_head_on_303(make_harness: Callable[..., Harness]) -> None:
    harness = make_harness(
        dns={"start.example": [[PUBLIC]], "next.example": [[PUBLIC_2]]},
        handler=redirect_to("http://next.example/", 303),
    )
    await harness.client.request("HEAD", "http://start.example/")
    assert harness.recorder.requests[1].method == "HEAD"


async def test_relative_redirect_is_resolved_against_the_host_not_the_ip(make_harness: Callable[..., Harness]) -> None:
    harness = make_harness(dns={"start.example": [[PUBLIC]]}, handler=redirect_to("/elsewhere?x=1"), max_redirects=1)
    # The first host redirects every time; stop it after one hop with max_redirects=1.
    with pytest.raises(EgressBlocked):
        await harness.client.request("GET", "http://start.example/a/b")
    second = harness.recorder.requests[1]
    assert second.url == httpx.URL(f"http://{PUBLIC}/elsewhere?x=1")
    assert second.headers["Host"] == "start.example"
    assert harness.resolver.calls == ["start.example", "start.example"]  # every hop is checked afresh


async def test_redirect_limit(make_harness: Callable[..., Harness]) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        hop = int(request.url.params.get("hop", "0"))
        return httpx.Response(302, headers={"Location": f"/loop?hop={hop + 1}"})

    harness = make_harness(dns={"loop.example": [[PUBLIC]]}, handler=handler, max_redirects=2)
    with pytest.raises(EgressBlocked) as caught:
        await harness.client.request("GET", "http://loop.example/loop")
    assert caught.value.kind == "redirect_limit"
    assert "stopped after 2 redirects" in caught.value.reason
    assert len(harness.recorder.requests) == 3


async def test_redirects_not_followed_when_asked(make_harness: Callable[..., Harness]) -> None:
    harness = make_harness(dns={"start.example": [[PUBLIC]]}, handler=redirect_to("http://127.0.0.1/"))
    response = await harness.client.request("GET", "http://start.example/", follow_redirects=False)
    assert response.status_code == 302
    assert response.headers["Location"] == "http://127.0.0.1/"
    assert len(harness.recorder.requests) == 1


# -- credentials --------------------------------------------------------------------------------------


async def test_credential_is_bound_to_its_hosts_on_every_hop(make_harness: Callable[..., Harness]) -> None:
    harness = make_harness(
        allowed=("slack.example", "*.example"),
        dns={"start.example": [[PUBLIC]], "collector.example": [[PUBLIC_2]]},
        handler=redirect_to("https://collector.example/steal"),
    )
    with pytest.raises(EgressBlocked) as caught:
        await harness.client.request(
            "POST",
            "https://start.example/api/chat.postMessage",
            headers={"Authorization": "Bearer xoxb-secret"},
            credential_hosts=("start.example", "*.slack.example"),
        )
    assert caught.value.kind == "credential_host"
    assert caught.value.reason.startswith(
        "the credential attached to this request may only be sent to start.example, *.slack.example; "
        "collector.example is not one of them"
    )
    assert len(harness.recorder.requests) == 1


async def test_credential_refused_for_first_hop_outside_its_hosts(make_harness: Callable[..., Harness]) -> None:
    harness = make_harness(dns={"api.example": [[PUBLIC]]})
    with pytest.raises(EgressBlocked) as caught:
        await harness.client.request("GET", "https://api.example/", credential_hosts=("hooks.slack.com",))
    assert caught.value.kind == "credential_host"
    assert harness.resolver.calls == []


async def test_credential_follows_redirects_within_its_hosts(make_harness: Callable[..., Harness]) -> None:
    harness = make_harness(
        dns={"start.example": [[PUBLIC]], "b.svc.example": [[PUBLIC_2]]},
        handler=redirect_to("https://b.svc.example/v2", 308),
    )
    await harness.client.request(
        "GET",
        "https://start.example/v1",
        headers={"Authorization": "Bearer t", "X-Api-Key": "k"},
        credential_hosts=("start.example", "*.svc.example"),
        sensitive_headers=("X-Api-Key",),
    )
    second = harness.recorder.requests[1]
    assert second.headers["Authorization"] == "Bearer t"
    assert second.headers["X-Api-Key"] == "k"


async def test_credential_never_downgrades_to_http(make_harness: Callable[..., Harness]) -> None:
    harness = make_harness(dns={"start.example": [[PUBLIC]]}, handler=redirect_to("http://start.example/plain"))
    with pytest.raises(EgressBlocked) as caught:
        await harness.client.request(
            "GET", "https://start.example/", headers={"Authorization": "t"}, credential_hosts=("start.example",)
        )
    assert caught.value.kind == "credential_host"
    assert len(harness.recorder.requests) == 1


async def test_sensitive_headers_dropped_when_a_redirect_leaves_the_origin(
    make_harness: Callable[..., Harness],
) -> None:
    harness = make_harness(
        dns={"start.example": [[PUBLIC]], "next.example": [[PUBLIC_2]]},
        handler=redirect_to("http://next.example/"),
    )
    await harness.client.request(
        "GET",
        "http://start.example/",
        headers={"Authorization": "Bearer t", "X-Api-Key": "k", "Cookie": "s=1", "X-Trace": "keep"},
        sensitive_headers=("x-api-key",),
    )
    first, second = harness.recorder.requests
    assert first.headers["Authorization"] == "Bearer t" and first.headers["X-Api-Key"] == "k"
    for name in ("Authorization", "X-Api-Key", "Cookie"):
        assert name not in second.headers
    assert second.headers["X-Trace"] == "keep"


async def test_sensitive_headers_kept_on_same_origin_redirect(make_harness: Callable[..., Harness]) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/old":
            return httpx.Response(301, headers={"Location": "/new"})
        return httpx.Response(200)

    harness = make_harness(dns={"api.example": [[PUBLIC]]}, handler=handler)
    await harness.client.request("GET", "http://api.example/old", headers={"Authorization": "Bearer t"})
    assert harness.recorder.requests[1].headers["Authorization"] == "Bearer t"
