"""The node-type catalogue and registry (SPEC §4, §11; STYLE "A node type and its credential, declared in one
place"): every registered type is listed with its schema and credential types, node and credential types
name each other, a duplicate key refuses to register, and every type has a test workflow."""

from __future__ import annotations

import re
from pathlib import Path
from typing import ClassVar

import pytest
from fastapi.testclient import TestClient

from flowvault.integrations.slack.node import Slack, SlackConfig
from flowvault.nodes.registry import DuplicateKeyError, credential_types, node_types, register_node_type
from flowvault.nodes.sdk import NodeConfig, NodeOutput, NodeType

TESTS = Path(__file__).resolve().parents[1]
CATEGORIES = {"trigger", "action", "logic"}
EXPECTED_CREDENTIALS = {
    "http_request": ["http_basic", "http_bearer", "http_header"],
    "slack": ["slack_token"],
    "sendgrid": ["sendgrid_api_key"],
}


def test_the_catalogue_lists_every_registered_node_type(client: TestClient) -> None:
    response = client.get("/api/v1/node-types")
    assert response.status_code == 200, response.text
    listed = response.json()
    keys = [n["key"] for n in listed]
    assert len(keys) == len(set(keys)), "a key is listed twice"
    assert set(keys) == set(node_types())
    assert {"manual_trigger", "http_request", "slack", "sendgrid", "condition", "delay", "formatter"} <= set(keys)
    categories = [n["category"] for n in listed]
    assert categories == sorted(categories, key=["trigger", "action", "logic"].index), "grouped for the palette"
    for node in listed:
        assert node["category"] in CATEGORIES, node
        assert node["name"] and node["version"] >= 1, node
        schema = node["config_schema"]
        assert schema["type"] == "object" and isinstance(schema["properties"], dict), node["key"]
        assert schema.get("additionalProperties") is False, f"{node['key']} must refuse unknown settings"
        assert isinstance(node["output_schema"], dict)
        assert re.fullmatch(r"[a-z][a-z0-9_]*", node["key"]), node["key"]
    by_key = {n["key"]: n for n in listed}
    for key, expected in EXPECTED_CREDENTIALS.items():
        assert sorted(by_key[key]["credential_types"]) == expected, key
    for key in ("manual_trigger", "condition", "delay", "formatter"):
        assert by_key[key]["credential_types"] == [], key
    assert by_key["condition"]["branches"] == ["true", "false"]
    assert by_key["manual_trigger"]["category"] == "trigger"
    assert by_key["http_request"]["secret_template_fields"] == ["url", "headers", "query", "body"]
    assert [n for n in listed if n["secret_template_fields"] and n["key"] != "http_request"] == []
    http = by_key["http_request"]["config_schema"]["properties"]
    assert set(http) >= {"method", "url", "headers", "query", "body", "timeout_ms", "follow_redirects", "auth",
                         "username", "header_name", "credential_id"}
    assert set(by_key["slack"]["config_schema"]["required"]) == {"channel"}


def test_node_and_credential_types_name_each_other() -> None:
    nodes, credentials = node_types(), credential_types()
    for key, node in nodes.items():
        properties = node.Config.model_json_schema().get("properties", {})
        if node.credential_types:
            assert "credential_id" in properties, f"{key} accepts credentials but has no credential_id setting"
        else:
            assert "credential_id" not in properties, f"{key} has a credential_id setting but accepts no credential"
        for ctype_key in node.credential_types:
            ctype = credentials.get(ctype_key)
            assert ctype is not None, f"{key} accepts '{ctype_key}', which is not a registered credential type"
            assert key in ctype.node_types, f"'{ctype_key}' does not list {key} among its node types"
    for ctype in credentials.values():
        for key in ctype.node_types:
            if key in nodes:  # credential types may be declared before their node type ships
                assert ctype.key in nodes[key].credential_types, f"{key} does not accept '{ctype.key}'"


def test_the_credential_catalogue_agrees_with_the_node_catalogue(client: TestClient) -> None:
    listed_nodes = {n["key"]: n for n in client.get("/api/v1/node-types").json()}
    listed_credentials = {c["key"]: c for c in client.get("/api/v1/credential-types").json()}
    for key, node in listed_nodes.items():
        for ctype_key in node["credential_types"]:
            assert key in listed_credentials[ctype_key]["node_types"], (key, ctype_key)


def test_a_duplicate_node_key_is_refused() -> None:
    before = node_types()

    class SlackAgain(NodeType):
        key = "slack"
        name = "Slack again"
        category = "action"
        Config: ClassVar[type[NodeConfig]] = SlackConfig
        Output: ClassVar[type[NodeOutput]] = NodeOutput

    with pytest.raises(DuplicateKeyError, match="slack"):
        register_node_type(SlackAgain)
    after = node_types()
    assert after.keys() == before.keys() and isinstance(after["slack"], Slack), "the original stays registered"


def _test_sources() -> str:
    here = Path(__file__).resolve()
    return "\n".join(p.read_text(encoding="utf-8") for p in sorted(TESTS.rglob("*.py")) if p != here)


def test_every_node_type_has_a_test_workflow() -> None:
    sources = _test_sources()
    missing = sorted(key for key in node_types() if f'"type": "{key}"' not in sources)
    assert missing == [], f"node types without a test workflow under tests/: {missing}"
