"""Validation of a workflow graph: node types, names, edges, branches, cycles and each node's config.

Configuration may hold ``{{templates}}``: a field whose value is a template is checked when it is
rendered at run time, not at save time."""

from __future__ import annotations

from collections import defaultdict, deque
from typing import Any

from pydantic import ValidationError as PydanticValidationError

from flowvault.errors import ValidationFailed
from flowvault.nodes.registry import node_type, node_types
from flowvault.nodes.sdk import NodeConfig, NodeType
from flowvault.workflows.schemas import Graph, NodeSpec
from flowvault.workflows.templating import TemplateError, node_key, node_slug, references


def _fail(node: NodeSpec | None, field: str, message: str) -> ValidationFailed:
    where = f"Node '{node.name}' ({node.id}): " if node else ""
    return ValidationFailed(where + message, field=field, extra={"node_id": node.id if node else None})


def _has_template(value: Any) -> bool:
    return isinstance(value, str) and "{{" in value


def validate_config(kind: NodeType, node: NodeSpec) -> NodeConfig | None:
    """Validates the node's config; returns the model when no field is a template, else None."""
    try:
        return kind.Config.model_validate(node.config)
    except PydanticValidationError as exc:
        errors = exc.errors(include_url=False)
        real = [e for e in errors if not _has_template(e.get("input"))]
        if not real:
            return None
        first = real[0]
        field = ".".join(str(p) for p in first["loc"]) or "config"
        message = "is required" if first["type"] == "missing" else first["msg"]
        if first["type"] == "extra_forbidden":
            message = f"is not a setting of a {kind.name} node"
        raise _fail(
            node,
            f"config.{field}" if first["loc"] else "config",
            f"'{field or 'config'}' {message}".replace("Value error, ", ""),
        ) from None


def validate_graph(graph: Graph) -> dict[str, NodeConfig | None]:
    """Raises ValidationFailed naming the node and field; returns each node's validated config."""
    by_id: dict[str, NodeSpec] = {}
    names: dict[str, NodeSpec] = {}
    configs: dict[str, NodeConfig | None] = {}
    triggers = []
    for node in graph.nodes:
        if node.id in by_id:
            raise _fail(node, "graph.nodes.id", f"the id '{node.id}' is used by two nodes.")
        by_id[node.id] = node
        kind = node_type(node.type)
        if kind is None:
            known = ", ".join(sorted(node_types()))
            raise _fail(node, "graph.nodes.type", f"unknown node type '{node.type}'. Known types: {known}.")
        for key in {node_key(node.name), node_slug(node.name)}:
            if key in ("trigger", "secrets"):
                raise _fail(node, "graph.nodes.name", f"'{node.name}' is reserved in templates; rename the node.")
            other = names.get(key)
            if other is not None and other.id != node.id:
                raise _fail(
                    node,
                    "graph.nodes.name",
                    f"another node is named '{other.name}'; names must differ so templates can refer to them.",
                )
            names[key] = node
        if kind.category == "trigger":
            triggers.append(node)
        configs[node.id] = validate_config(kind, node)
        _check_secret_templates(kind, node)
    if len(triggers) > 1:
        raise _fail(triggers[1], "graph.nodes.type", "a workflow has one trigger; remove the extra one.")
    seen_edges = set()
    for edge in graph.edges:
        for end in (edge.source, edge.target):
            if end not in by_id:
                raise ValidationFailed(
                    f"An edge refers to node '{end}', which is not in the workflow.",
                    field="graph.edges",
                    extra={"node_id": end},
                )
        source = by_id[edge.source]
        kind = node_type(source.type)
        assert kind is not None
        if kind.branches and edge.source_handle not in kind.branches:
            raise _fail(
                source, "graph.edges.source_handle", f"connect from one of its outputs: {', '.join(kind.branches)}."
            )
        if not kind.branches and edge.source_handle not in (None, "", "out"):
            raise _fail(source, "graph.edges.source_handle", f"it has no output named '{edge.source_handle}'.")
        if node_type(by_id[edge.target].type) is not None and by_id[edge.target] in triggers:
            raise _fail(by_id[edge.target], "graph.edges.target", "a trigger cannot have incoming connections.")
        edge_key = (edge.source, edge.target, edge.source_handle or None)
        if edge_key in seen_edges:
            raise _fail(source, "graph.edges", f"it is connected to '{by_id[edge.target].name}' twice.")
        seen_edges.add(edge_key)
    _check_acyclic(graph, by_id)
    return configs


def _check_secret_templates(kind: NodeType, node: NodeSpec) -> None:
    for field, value in node.config.items():
        try:
            found = references(value)
        except TemplateError as exc:
            raise _fail(node, f"config.{field}", str(exc)) from None
        for ref in found:
            if ref.root == "secrets" and field not in kind.secret_template_fields:
                raise _fail(
                    node,
                    f"config.{field}",
                    f"'{ref.text}': secrets can be used in templates only in an HTTP Request node's URL, "
                    "query, headers or body; select a credential instead.",
                )


def _check_acyclic(graph: Graph, by_id: dict[str, NodeSpec]) -> None:
    indegree = {node_id: 0 for node_id in by_id}
    outgoing: dict[str, list[str]] = defaultdict(list)
    for edge in graph.edges:
        outgoing[edge.source].append(edge.target)
        indegree[edge.target] += 1
    queue = deque(n for n, d in indegree.items() if d == 0)
    visited = 0
    while queue:
        current = queue.popleft()
        visited += 1
        for target in outgoing[current]:
            indegree[target] -= 1
            if indegree[target] == 0:
                queue.append(target)
    if visited != len(by_id):
        stuck = next(by_id[n] for n, d in indegree.items() if d > 0)
        raise _fail(stuck, "graph.edges", "it is part of a cycle; workflows must not loop back on themselves.")
