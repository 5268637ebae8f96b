"""HMAC-signed webhooks (SPEC §6): with signatures required, a request signed with the workspace key
over "{timestamp}.{minified body}" is accepted; every other request is refused with its own clear
error — missing header, malformed timestamp or signature, a signature that does not match (a tampered
body, or another key: the two are indistinguishable by design of an HMAC), a timestamp outside the
replay window, a replayed signature — and creates no run."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from flowvault.triggers import signing
from flowvault.triggers.errors import (
    SignatureMalformed,
    SignatureMismatch,
    SignatureMissing,
    TimestampMalformed,
    TimestampOutsideWindow,
)
from tests.conftest import Actor
from tests.triggers.conftest import Hook, assert_problem, create_hook, require_signatures, signed, wait_for_run

BODY = {"customer": "acme", "amount": 42}
RAW = json.dumps(BODY, separators=(",", ":")).encode()
OTHER_KEY = "x" * 43


@pytest.fixture
def hook(signup: Any) -> tuple[Hook, str]:
    owner: Actor = signup("owner@example.com")
    hook = create_hook(owner)
    return hook, require_signatures(owner)


def test_a_correctly_signed_request_is_accepted(hook: tuple[Hook, str]) -> None:
    target, key = hook
    response = target.post(content=RAW, headers=signed(key, RAW))
    assert response.status_code == 202, response.text
    run = wait_for_run(target.actor, response.json()["run_id"])
    assert run["status"] == "succeeded" and run["input"] == BODY


def test_each_way_of_getting_it_wrong_has_its_own_error_and_creates_no_run(hook: tuple[Hook, str]) -> None:
    target, key = hook
    now = int(time.time())
    good = signed(key, RAW, timestamp=now)
    tampered = json.dumps({**BODY, "amount": 4200}, separators=(",", ":")).encode()
    cases: list[tuple[str, bytes, dict[str, str], int, str, str]] = [
        ("no headers", RAW, {}, 401, "signature_missing", "X-Flowvault-Timestamp, X-Flowvault-Signature"),
        ("no signature", RAW, {"X-Flowvault-Timestamp": str(now)}, 401, "signature_missing",
         "missing header(s): X-Flowvault-Signature"),
        ("no timestamp", RAW, {"X-Flowvault-Signature": good["X-Flowvault-Signature"]}, 401, "signature_missing",
         "missing header(s): X-Flowvault-Timestamp"),
        ("timestamp not digits", RAW, {**good, "X-Flowvault-Timestamp": "2026-11-27T10:00:00Z"}, 401,
         "timestamp_malformed", "unix seconds"),
        ("not v1=hex", RAW, {**good, "X-Flowvault-Signature": "sha256=" + "0" * 64}, 401, "signature_malformed",
         "v1=<64 hex digits>"),
        ("short signature", RAW, {**good, "X-Flowvault-Signature": "v1=deadbeef"}, 401, "signature_malformed",
         "v1=<64 hex digits>"),
        ("wrong key", RAW, signed(OTHER_KEY, RAW, timestamp=now), 401, "signature_mismatch", "another key"),
        ("tampered body", tampered, good, 401, "signature_mismatch", "tampered body"),
        ("timestamp changed after signing", RAW, {**good, "X-Flowvault-Timestamp": str(now + 1)}, 401,
         "signature_mismatch", "timestamp was changed"),
        ("stale", RAW, signed(key, RAW, timestamp=now - 400), 401, "timestamp_outside_window", "s old"),
        ("from the future", RAW, signed(key, RAW, timestamp=now + 400), 401, "timestamp_outside_window",
         "in the future"),
    ]
    titles = {}
    for name, content, headers, status, code, says in cases:
        problem = assert_problem(target.post(content=content, headers=headers), status, code)
        assert says in problem["detail"], (name, problem)
        assert key not in json.dumps(problem), name
        titles[code] = problem["title"]
    assert len(set(titles.values())) == len(titles), f"each kind of refusal has its own title: {titles}"
    assert target.runs() == [], "no refused request created a run"


def test_a_replayed_request_is_refused_within_the_window(hook: tuple[Hook, str]) -> None:
    target, key = hook
    headers = signed(key, RAW)
    assert target.post(content=RAW, headers=headers).status_code == 202
    replayed = assert_problem(target.post(content=RAW, headers=headers), 409, "replayed")
    assert "already accepted" in replayed["detail"]
    # The same signature with a re-serialised body is the same delivery.
    pretty = json.dumps(BODY, indent=2).encode()
    assert_problem(target.post(content=pretty, headers=headers), 409, "replayed")
    assert len(target.runs()) == 1
    # A new signature (new timestamp) for the same body is a new delivery.
    assert target.post(content=RAW, headers=signed(key, RAW, timestamp=int(time.time()) + 1)).status_code == 202
    assert len(target.runs()) == 2


def test_a_replay_window_of_ten_seconds_refuses_older_timestamps(hook: tuple[Hook, str]) -> None:
    target, key = hook
    url = f"/api/v1/workspaces/{target.actor.workspace_id}/settings/webhooks"
    assert target.actor.put(url, json={"replay_window_s": 10}).status_code == 200
    now = int(time.time())
    assert target.post(content=RAW, headers=signed(key, RAW, timestamp=now - 5)).status_code == 202
    problem = assert_problem(target.post(content=RAW, headers=signed(key, RAW, timestamp=now - 30)), 401,
                             "timestamp_outside_window")
    assert "at most 10 s" in problem["detail"]


def test_forms_of_the_minified_body_that_verify(hook: tuple[Hook, str]) -> None:
    """What a sender signs is "{ts}.{minified JSON}"; it may send the exact bytes it signed (any
    language), or the same JSON formatted differently."""
    target, key = hook
    body = {"customer": "Zoë", "emoji": "🚀", "n": 1}
    js_style = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()  # JSON.stringify
    python_default = json.dumps(body, separators=(",", ":")).encode()  # \\u escapes
    pretty = json.dumps(body, indent=2, ensure_ascii=False).encode()
    now = int(time.time())
    for n, (signed_bytes, sent) in enumerate([(js_style, js_style), (python_default, python_default),
                                              (js_style, pretty), (python_default, pretty)]):
        response = target.post(content=sent, headers=signed(key, signed_bytes, timestamp=now + n))
        assert response.status_code == 202, (n, response.text)
    assert [r["status"] for r in target.runs()] and len(target.runs()) == 4


def test_regenerating_the_signing_key_retires_the_old_one_and_turning_hmac_off_accepts_unsigned(
    hook: tuple[Hook, str],
) -> None:
    target, old_key = hook
    url = f"/api/v1/workspaces/{target.actor.workspace_id}/settings/webhooks"
    new_key = target.actor.post(f"{url}/signing-key").json()["signing_key"]
    assert_problem(target.post(content=RAW, headers=signed(old_key, RAW)), 401, "signature_mismatch")
    assert target.post(content=RAW, headers=signed(new_key, RAW)).status_code == 202
    assert target.actor.put(url, json={"hmac_required": False}).status_code == 200
    assert target.post(BODY).status_code == 202
    assert len(target.runs()) == 2


# -- the verifier itself ------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**12), 10**12) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


@hypothesis_settings(max_examples=200, deadline=None)
@given(body=st.dictionaries(st.text(max_size=8), json_values, max_size=5), ts=st.integers(0, 10**10))
def test_any_body_signed_minified_verifies_and_any_change_does_not(body: dict[str, Any], ts: int) -> None:
    key = "k" * 43
    raw = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    headers = (str(ts), f"v1={signing.sign(key, str(ts), raw)}")
    verified = signing.verify(key=key, timestamp=headers[0], signature=headers[1], raw=raw, parsed=body,
                              window_s=300, now=ts + 1)
    assert verified.timestamp == ts and len(verified.signature) == 64
    changed = {**body, "__changed": True}
    changed_raw = json.dumps(changed, separators=(",", ":")).encode()
    with pytest.raises(SignatureMismatch):
        signing.verify(key=key, timestamp=headers[0], signature=headers[1], raw=changed_raw, parsed=changed,
                       window_s=300, now=ts + 1)
    with pytest.raises(SignatureMismatch):
        signing.verify(key=key + "x", timestamp=headers[0], signature=headers[1], raw=raw, parsed=body,
                       window_s=300, now=ts + 1)


@pytest.mark.parametrize(
    ("timestamp", "signature", "now", "error"),
    [
        (None, "v1=" + "0" * 64, 0, SignatureMissing),
        ("1", "", 0, SignatureMissing),
        ("-5", "v1=" + "0" * 64, 0, TimestampMalformed),
        ("1.5", "v1=" + "0" * 64, 0, TimestampMalformed),
        ("1", "v1=" + "0" * 63, 0, SignatureMalformed),
        ("1", "v1=" + "g" * 64, 0, SignatureMalformed),
        ("1", "v2=" + "0" * 64, 0, SignatureMalformed),
        ("1", "v1=" + "0" * 64, 0, SignatureMismatch),
    ],
)
def test_malformed_headers(timestamp: str | None, signature: str, now: float, error: type[Exception]) -> None:
    with pytest.raises(error):
        signing.verify(key="k" * 43, timestamp=timestamp, signature=signature, raw=b"{}", parsed={}, window_s=300,
                       now=now)


def test_the_window_is_inclusive_and_symmetric() -> None:
    key, raw = "k" * 43, b"{}"
    for skew in (-300, 0, 300):
        signature = f"v1={signing.sign(key, '1000', raw)}"
        signing.verify(key=key, timestamp="1000", signature=signature, raw=raw, parsed={}, window_s=300,
                       now=1000 + skew)
    for skew in (-301, 301):
        with pytest.raises(TimestampOutsideWindow):
            signing.verify(key=key, timestamp="1000", signature=f"v1={signing.sign(key, '1000', raw)}", raw=raw,
                           parsed={}, window_s=300, now=1000 + skew)
    upper = f"v1={signing.sign(key, '1000', raw).upper()}"
    assert signing.verify(key=key, timestamp="1000", signature=upper, raw=raw, parsed={}, window_s=300,
                          now=1000).signature == signing.sign(key, "1000", raw)
