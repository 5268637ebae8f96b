from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from flowvault.integrations.http_request.credentials import BearerTokenFields
from flowvault.nodes.base import CredentialType, HostBinding
from flowvault.nodes.registry import DuplicateKeyError, credential_types, register_credential_type

REQUIRED = {
    "http_basic", "http_bearer", "http_header", "slack_token", "sendgrid_api_key", "mailgun_api_key",
    "ses_access_key", "smtp_login", "teams_webhook", "google_chat_webhook",
}


def test_every_required_type_is_declared_with_a_secret_field_and_hosts() -> None:
    declared = credential_types()
    assert set(declared) >= REQUIRED
    for ctype in declared.values():
        assert ctype.secret_field_names, f"{ctype.key} has no secret field"
        assert ctype.node_types, f"{ctype.key} serves no node type"
        assert ctype.hosts.describe(), f"{ctype.key} may be sent nowhere"


def test_duplicate_key_is_refused() -> None:
    with pytest.raises(DuplicateKeyError):
        register_credential_type(
            CredentialType(key="http_bearer", name="again", fields=BearerTokenFields, node_types=("x",),
                           hosts=HostBinding(workspace_allowlist=True))
        )


def test_catalogue_route_marks_secret_fields(client: TestClient) -> None:
    catalogue = {t["key"]: t for t in client.get("/api/v1/credential-types").json()}
    basic = {f["name"]: f for f in catalogue["http_basic"]["fields"]}
    assert basic["username"]["secret"] is False and basic["password"]["secret"] is True
    assert catalogue["slack_token"]["node_types"] == ["slack"]
    assert catalogue["sendgrid_api_key"]["node_types"] == ["sendgrid"]
    assert catalogue["http_bearer"]["hosts"] == ["hosts on the workspace egress allowlist"]
