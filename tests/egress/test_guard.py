"""The per-hop check, seen through the client: URL forms, allowlist, resolution and the blocklist.

Every refused request must reach neither the transport nor, for names off the allowlist, the resolver.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from flowvault.egress import EgressBlocked

from .conftest import Harness

pytestmark = pytest.mark.asyncio

# Everything below is on the allowlist, so only the address checks and URL rules can refuse it.
ALLOWED = ("*.example", "allowed.example", "127.0.0.1", "::1", "0.0.0.0", "93.184.216.34")  # noqa: S104


@pytest.mark.parametrize(
    ("url", "kind", "says"),
    [
        ("http://127.0.0.1/", "private_address", "127.0.0.1 is a loopback address; requests to private networks"),
        ("http://2130706433/", "private_address", "2130706433 denotes 127.0.0.1, which is a loopback address"),
        ("http://0177.0.0.1/", "private_address", "0177.0.0.1 denotes 127.0.0.1, which is a loopback address"),
        ("http://0x7f.1/", "private_address", "0x7f.1 denotes 127.0.0.1"),
        ("http://0x7f000001:8080/", "private_address", "denotes 127.0.0.1"),
        ("http://127.1/", "private_address", "127.1 denotes 127.0.0.1"),
        ("http://0/", "private_address", "0 denotes 0.0.0.0, which is an unspecified address"),
        ("http://0.0.0.0/", "private_address", "0.0.0.0 is an unspecified address"),
        ("http://[::1]/", "private_address", "::1 is a loopback address"),
        ("http://[::ffff:127.0.0.1]/", "private_address", "embedding 127.0.0.1, a loopback address"),
        ("http://[::ffff:7f00:1]/", "private_address", "embedding 127.0.0.1"),
        ("http://[fe80::1%25eth0]/", "private_address", "a link-local address"),
        ("http://169.254.169.254/latest/meta-data/", "private_address", "requests to cloud metadata services"),
        ("http://[fd00:ec2::254]/", "private_address", "a cloud metadata address"),
        ("http://allowed.example@127.0.0.1/", "userinfo", "credentials in URLs are not allowed; use a credential"),
        ("http://user:hunter2@allowed.example/", "userinfo", "credentials in URLs are not allowed"),
        ("file:///etc/passwd", "scheme", "file:// URLs are not allowed; use http:// or https://"),
        ("gopher://allowed.example/", "scheme", "gopher:// URLs are not allowed"),
        ("ftp://allowed.example/", "scheme", "ftp://"),
        ("allowed.example/path", "scheme", "must start with http:// or https://"),
        ("http://0x5db8d822/", "invalid_url", "write it as 93.184.216.34"),
        ("http://1.2.3.4.5/", "invalid_url", "too many parts"),
        ("http://127%2e0%2e0%2e1/", "invalid_url", "not a valid host name"),
        ("http://[::1/", "invalid_url", "not a valid URL"),
        ("http:///path-only", "invalid_url", "no host"),
    ],
)
async def test_refused_url_forms(make_harness: Callable[..., Harness], url: str, kind: str, says: str) -> None:
    harness = make_harness(allowed=ALLOWED, dns={"allowed.example": [["93.184.216.34"]]})
    with pytest.raises(EgressBlocked) as caught:
        await harness.client.request("GET", url)
    assert caught.value.kind == kind
    assert says in caught.value.reason
    assert harness.recorder.requests == []
    assert harness.blocked == [caught.value]
    assert "hunter2" not in caught.value.url


async def test_allowlist_is_checked_before_any_dns_query(make_harness: Callable[..., Harness]) -> None:
    harness = make_harness(allowed=("api.example",), dns={"other.example": [["93.184.216.34"]]})
    with pytest.raises(EgressBlocked) as caught:
        await harness.client.request("GET", "https://other.example/x")
    assert caught.value.kind == "allowlist"
    assert caught.value.reason == (
        "other.example is not on this workspace's egress allowlist; add it in Settings → Engine"
    )
    assert (caught.value.host, caught.value.url) == ("other.example", "https://other.example/x")
    assert harness.resolver.calls == []


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://api.example.com/", True),
        ("https://a.b.example.com/", True),
        ("https://example.com/", False),
        ("https://notexample.com/", False),
        ("https://example.com.evil.net/", False),
        ("https://exact.net/", True),
        ("https://www.exact.net/", False),
        ("https://EXACT.NET./", True),
    ],
)
async def test_allowlist_matching(make_harness: Callable[..., Harness], url: str, allowed: bool) -> None:
    host = httpx.URL(url).host.rstrip(".")
    harness = make_harness(allowed=("*.example.com", "exact.net"), dns={host: [["93.184.216.34"]]})
    if allowed:
        response = await harness.client.request("GET", url)
        assert response.status_code == 200
    else:
        with pytest.raises(EgressBlocked, match="not on this workspace's egress allowlist"):
            await harness.client.request("GET", url)


@pytest.mark.parametrize("url", ["http://Bücher.example/", "http://BÜCHER.example/", "http://xn--bcher-kva.example/"])
async def test_idna_hosts_match_in_ascii_form(make_harness: Callable[..., Harness], url: str) -> None:
    harness = make_harness(allowed=("bücher.example",), dns={"xn--bcher-kva.example": [["93.184.216.34"]]})
    response = await harness.client.request("GET", url)
    assert response.status_code == 200
    sent = harness.recorder.requests[0]
    assert sent.headers["Host"] == "xn--bcher-kva.example"
    assert harness.resolver.calls == ["xn--bcher-kva.example"]


async def test_lookalike_unicode_host_is_not_the_ascii_one(make_harness: Callable[..., Harness]) -> None:
    harness = make_harness(allowed=("apple.example",))
    with pytest.raises(EgressBlocked) as caught:
        await harness.client.request("GET", "https://\u0430pple.example/")  # Cyrillic a
    assert caught.value.kind == "allowlist"
    assert caught.value.host.startswith("xn--")


@pytest.mark.parametrize(
    ("answers", "says"),
    [
        (["10.0.0.7"], "internal.example resolves to 10.0.0.7, which is a private network address"),
        (["93.184.216.34", "127.0.0.1"], "resolves to 127.0.0.1, which is a loopback address"),
        (["2606:4700::1", "::1"], "resolves to ::1"),
        (["169.254.169.254"], "a cloud metadata address; requests to cloud metadata services are blocked"),
        (["::ffff:192.168.0.1"], "embedding 192.168.0.1, a private network address"),
    ],
)
async def test_name_resolving_to_a_private_address_is_blocked(
    make_harness: Callable[..., Harness], answers: list[str], says: str
) -> None:
    harness = make_harness(dns={"internal.example": [answers]})
    with pytest.raises(EgressBlocked) as caught:
        await harness.client.request("GET", "http://internal.example/")
    assert caught.value.kind == "private_address"
    assert says in caught.value.reason
    assert "FLOWVAULT_ALLOW_PRIVATE_HOSTS" in caught.value.reason or "metadata" in says
    assert harness.recorder.requests == []


async def test_dns_answer_that_is_not_an_address(make_harness: Callable[..., Harness]) -> None:
    harness = make_harness(dns={"odd.example": [["not-an-ip"]]})
    with pytest.raises(EgressBlocked) as caught:
        await harness.client.request("GET", "http://odd.example/")
    assert caught.value.kind == "dns"


async def test_unresolvable_name_is_a_connect_error_not_a_block(make_harness: Callable[..., Harness]) -> None:
    harness = make_harness()
    with pytest.raises(httpx.ConnectError, match=r"could not resolve nowhere\.example"):
        await harness.client.request("GET", "http://nowhere.example/")
    assert harness.blocked == []


async def test_exemption_by_name_and_by_address(make_harness: Callable[..., Harness]) -> None:
    harness = make_harness(
        allowed=("fake-slack.example", "fake-mail.example", "other.example"),
        exempt=("fake-slack.example", "10.1.2.3"),
        dns={
            "fake-slack.example": [["127.0.0.1"]],
            "fake-mail.example": [["10.1.2.3"]],
            "other.example": [["127.0.0.1"]],
        },
    )
    assert (await harness.client.request("GET", "http://fake-slack.example/")).status_code == 200
    assert (await harness.client.request("GET", "http://fake-mail.example/")).status_code == 200
    with pytest.raises(EgressBlocked, match=r"other\.example resolves to 127\.0\.0\.1"):
        await harness.client.request("GET", "http://other.example/")


async def test_exempted_name_never_unlocks_the_metadata_address(make_harness: Callable[..., Harness]) -> None:
    harness = make_harness(
        allowed=("internal.example", "169.254.169.254"),
        exempt=("internal.example",),
        dns={"internal.example": [["169.254.169.254"]]},
    )
    with pytest.raises(EgressBlocked, match="cloud metadata"):
        await harness.client.request("GET", "http://internal.example/")
    with pytest.raises(EgressBlocked, match="cloud metadata"):
        await harness.client.request("GET", "http://169.254.169.254/")


async def test_exemption_does_not_bypass_the_allowlist(make_harness: Callable[..., Harness]) -> None:
    harness = make_harness(allowed=(), exempt=("127.0.0.2",))
    with pytest.raises(EgressBlocked) as caught:
        await harness.client.request("GET", "http://127.0.0.2/")
    assert caught.value.kind == "allowlist"
