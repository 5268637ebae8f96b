"""Fakes for the egress tests: a scripted resolver, a transport that records what it was sent, and a
throwaway certificate authority for TLS servers on loopback."""

from __future__ import annotations

import datetime
import socket
import ssl
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from flowvault.egress import EgressBlocked, EgressPolicy, GuardedClient

Handler = Callable[[httpx.Request], httpx.Response]


class FakeResolver:
    """Answers from a script: ``{"host": [first_answer, second_answer, ...]}``; the last answer repeats."""

    def __init__(self, script: dict[str, Sequence[Sequence[str]]] | None = None) -> None:
        self.script = {host: list(answers) for host, answers in (script or {}).items()}
        self.calls: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append(host)
        answers = self.script.get(host)
        if not answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return list(answers.pop(0) if len(answers) > 1 else answers[0])


class Recorder:
    """An ``httpx.MockTransport`` handler that keeps every request it receives."""

    def __init__(self, handler: Handler | None = None) -> None:
        self.handler = handler
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.handler is None:
            return httpx.Response(200, text="ok")
        return self.handler(request)

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)


class Harness:
    """A guarded client over a recorder, with the blocks it reported."""

    def __init__(self, policy: EgressPolicy, resolver: FakeResolver, recorder: Recorder) -> None:
        self.resolver = resolver
        self.recorder = recorder
        self.blocked: list[EgressBlocked] = []
        self.client = GuardedClient(
            policy, resolver=resolver, transport=recorder.transport, on_blocked=self.blocked.append
        )


@pytest_asyncio.fixture
async def make_harness() -> AsyncIterator[Callable[..., Harness]]:
    made: list[Harness] = []

    def make(
        allowed: Sequence[str] = ("*.example",),
        dns: dict[str, Sequence[Sequence[str]]] | None = None,
        handler: Handler | None = None,
        exempt: Sequence[str] = (),
        max_redirects: int = 5,
    ) -> Harness:
        policy = EgressPolicy(
            allowed_hosts=tuple(allowed), exempt_private=frozenset(exempt), max_redirects=max_redirects
        )
        harness = Harness(policy, FakeResolver(dns), Recorder(handler))
        made.append(harness)
        return harness

    yield make
    for harness in made:
        await harness.client.aclose()


@dataclass(frozen=True)
class Pki:
    server: ssl.SSLContext
    client: ssl.SSLContext


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A throwaway CA and a certificate for ``fake.test`` only."""
    directory: Path = tmp_path_factory.mktemp("pki")
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "flowvault test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake.test")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("fake.test")]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    (directory / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (directory / "leaf.pem").write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    (directory / "leaf.key").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(directory / "leaf.pem", directory / "leaf.key")
    client = ssl.create_default_context(cafile=str(directory / "ca.pem"))
    return Pki(server=server, client=client)
