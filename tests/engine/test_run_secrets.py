"""``RunSecrets`` (the executor's record of what a run resolved): a run's first credential is taken as the run
before it resolved it (pairs and redactor cached by the credential's content), and what it masks is exactly what
the credential's values call for, whatever the cache holds."""

from __future__ import annotations

import base64
from uuid import uuid4

from flowvault.engine.executor import RunSecrets, masked_pairs
from flowvault.nodes.sdk import ResolvedCredential


def credential(type_key: str, **fields: str) -> ResolvedCredential:
    return ResolvedCredential(id="s1", name="Echo API", type=type_key, fields=fields, hosts=())


def masked(secrets: RunSecrets, text: str) -> str:
    return secrets.redactor.redact(text)


def test_the_first_credential_of_two_runs_shares_one_redactor() -> None:
    token = f"canary-{uuid4().hex}"
    first, second = RunSecrets(), RunSecrets()
    first.add(credential("http_bearer", token=token))
    second.add(credential("http_bearer", token=token))  # a new object with the same content, as a new run gets
    assert second.redactor is first.redactor
    assert token not in masked(second, f"Bearer {token}")
    first.close()
    second.close()


def test_a_rotated_value_gets_a_redactor_of_its_own() -> None:
    old, new = f"canary-old-{uuid4().hex}", f"canary-new-{uuid4().hex}"
    before, after = RunSecrets(), RunSecrets()
    before.add(credential("http_bearer", token=old))
    after.add(credential("http_bearer", token=new))
    assert after.redactor is not before.redactor
    assert new not in masked(after, new) and masked(after, old) == old
    before.close()
    after.close()


def test_basic_auth_masks_the_pair_and_its_wire_token_and_a_second_credential_adds_its_own() -> None:
    password, token = f"pw-{uuid4().hex}", f"canary-{uuid4().hex}"
    wire = base64.b64encode(f"ops:{password}".encode()).decode()
    secrets = RunSecrets()
    basic = credential("http_basic", username="ops", password=password)
    secrets.add(basic)
    assert set(masked_pairs(basic)) == {("Echo API", password), ("Echo API", f"ops:{password}"), ("Echo API", wire)}
    secrets.add(ResolvedCredential(id="s2", name="Other", type="http_bearer", fields={"token": token}, hosts=()))
    text = f"Authorization: Basic {wire} / {password} / Bearer {token}"
    shown = masked(secrets, text)
    assert wire not in shown and password not in shown and token not in shown
    secrets.close()
