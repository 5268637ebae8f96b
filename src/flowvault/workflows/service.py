"""Workflows: save with validation (graph, credentials, no hardcoded secrets), change history, the
"used by" index of secrets, export by reference."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from flowvault.db.base import utcnow
from flowvault.errors import Conflict, NotFound, ValidationFailed
from flowvault.nodes.registry import credential_type, node_type
from flowvault.secrets import service as secrets_service
from flowvault.secrets.models import Secret, SecretUsage
from flowvault.secrets.vault import Vault
from flowvault.triggers.schedules import sync_schedule
from flowvault.workflows.graph import validate_graph
from flowvault.workflows.hardcoded import check_workflow
from flowvault.workflows.models import Workflow, WorkflowChange
from flowvault.workflows.schemas import Graph, NodeSpec
from flowvault.workflows.templating import references
from flowvault.workspaces.service import Member

WORKFLOW_NOT_FOUND = "Workflow not found in this workspace. It may have been deleted."
HTTP_CREDENTIAL_TYPES = ("http_bearer", "http_basic", "http_header")


async def get_workflow(session: AsyncSession, *, workspace_id: str, workflow_id: str) -> Workflow:
    workflow = await session.get(Workflow, workflow_id)
    if workflow is None or workflow.workspace_id != workspace_id:
        raise NotFound(WORKFLOW_NOT_FOUND)
    return workflow


async def list_workflows(session: AsyncSession, *, workspace_id: str) -> list[Workflow]:
    rows = await session.scalars(
        select(Workflow).where(Workflow.workspace_id == workspace_id).order_by(Workflow.updated_at.desc())
    )
    return list(rows.all())


def _field_error(node: NodeSpec, field: str, message: str) -> ValidationFailed:
    return ValidationFailed(f"Node '{node.name}' ({node.id}): {message}", field=field, extra={"node_id": node.id})


async def _check_credentials(
    session: AsyncSession, workspace_id: str, graph: Graph, configs: dict[str, Any]
) -> dict[str, list[Secret]]:
    """Every credential a node refers to exists in this workspace and is of a type the node accepts.
    Returns the secrets each node uses (by credential_id or ``{{secrets.NAME}}``)."""
    used: dict[str, list[Secret]] = {}
    for node in graph.nodes:
        kind = node_type(node.type)
        assert kind is not None
        secrets: list[Secret] = []
        credential_id = kind.credential_id(node.config)
        if credential_id is not None:
            secret = await session.get(Secret, credential_id)
            if secret is None or secret.workspace_id != workspace_id:
                raise _field_error(
                    node,
                    "config.credential_id",
                    "the selected credential does not exist in this workspace; select another.",
                )
            config = configs.get(node.id)
            accepted = kind.credential_types_for(config) if config is not None else kind.credential_types
            if secret.type not in accepted:
                ctype = credential_type(secret.type)
                wanted = ", ".join(accepted) or "none (set the auth mode first)"
                raise _field_error(
                    node,
                    "config.credential_id",
                    f"'{secret.name}' is a {ctype.name if ctype else secret.type} credential; "
                    f"this node takes {wanted}.",
                )
            secrets.append(secret)
        for ref in references(node.config):
            if ref.root != "secrets" or len(ref.path) != 1:
                continue
            name = str(ref.path[0])
            found = await secrets_service.secret_by_name(
                session, workspace_id=workspace_id, name=name, types=HTTP_CREDENTIAL_TYPES
            )
            if found is None:
                raise _field_error(
                    node,
                    "config",
                    f"'{ref.text}': no HTTP credential named '{name}' in this "
                    "workspace. Create it in Settings → Secrets & API Keys.",
                )
            secrets.append(found)
        used[node.id] = secrets
    return used


async def _validate(
    session: AsyncSession, vault: Vault, workspace_id: str, name: str, graph: Graph
) -> dict[str, list[Secret]]:
    # Hardcoded secrets first: other problems' messages quote node names, which may hold the value.
    # O(the workflow's text) per save: the workspace's secrets are indexed once per process and
    # refreshed for the secrets changed since (see hardcoded.py).
    hit = await check_workflow(session, vault=vault, workspace_id=workspace_id, workflow_name=name, graph=graph)
    if hit is not None:
        raise hit
    configs = validate_graph(graph)
    return await _check_credentials(session, workspace_id, graph, configs)


async def _write_usage(session: AsyncSession, workflow: Workflow, graph: Graph, used: dict[str, list[Secret]]) -> None:
    """O(the workflow's nodes): its rows go by ``ix_secret_usages_workflow_id``, one row per node and secret."""
    await session.execute(delete(SecretUsage).where(SecretUsage.workflow_id == workflow.id))
    names = {node.id: node.name for node in graph.nodes}
    rows = {(s.id, node_id): s for node_id, secrets in used.items() for s in secrets}
    for (secret_id, node_id), _secret in rows.items():
        session.add(
            SecretUsage(
                secret_id=secret_id,
                workflow_id=workflow.id,
                node_id=node_id,
                workspace_id=workflow.workspace_id,
                workflow_name=workflow.name,
                node_name=names[node_id],
            )
        )


async def _credential_names(session: AsyncSession, graph_dicts: list[dict[str, Any]]) -> dict[str, str]:
    ids = {
        str(n.get("config", {}).get("credential_id"))
        for g in graph_dicts
        for n in g.get("nodes", [])
        if n.get("config", {}).get("credential_id")
    }
    if not ids:
        return {}
    rows = await session.execute(select(Secret.id, Secret.name).where(Secret.id.in_(ids)))
    return dict(rows.all())


def diff_graphs(
    before: dict[str, Any], after: dict[str, Any], credential_names: dict[str, str]
) -> list[dict[str, Any]]:
    """Changes by node and field; credentials appear by name, never by value."""

    def show(field: str, value: Any) -> Any:
        if field == "credential_id" and value:
            return credential_names.get(str(value), "(deleted credential)")
        return value

    changes: list[dict[str, Any]] = []
    old = {n["id"]: n for n in before.get("nodes", [])}
    new = {n["id"]: n for n in after.get("nodes", [])}
    for node_id in old.keys() - new.keys():
        changes.append({"node_id": node_id, "node_name": old[node_id]["name"], "change": "removed"})
    for node_id, node in new.items():
        if node_id not in old:
            changes.append({"node_id": node_id, "node_name": node["name"], "change": "added", "type": node["type"]})
            continue
        previous = old[node_id]
        if previous["name"] != node["name"]:
            changes.append(
                {
                    "node_id": node_id,
                    "node_name": node["name"],
                    "change": "renamed",
                    "field": "name",
                    "before": previous["name"],
                    "after": node["name"],
                }
            )
        old_config, new_config = previous.get("config", {}), node.get("config", {})
        for field in sorted(old_config.keys() | new_config.keys()):
            if old_config.get(field) != new_config.get(field):
                changes.append(
                    {
                        "node_id": node_id,
                        "node_name": node["name"],
                        "change": "config",
                        "field": field,
                        "before": show(field, old_config.get(field)),
                        "after": show(field, new_config.get(field)),
                    }
                )

    def edge_set(graph: dict[str, Any]) -> set[str]:
        return {json.dumps([e["source"], e["target"], e.get("source_handle")]) for e in graph.get("edges", [])}

    for edge in sorted(edge_set(before) ^ edge_set(after)):
        source, target, handle = json.loads(edge)
        changes.append(
            {
                "change": "connected" if edge in edge_set(after) else "disconnected",
                "source": source,
                "target": target,
                "source_handle": handle,
            }
        )
    return changes


async def _record_change(
    session: AsyncSession,
    member: Member,
    workflow: Workflow,
    before: dict[str, Any],
    after: dict[str, Any],
    extra: list[dict[str, Any]],
) -> None:
    names = await _credential_names(session, [before, after])
    changes = extra + diff_graphs(before, after, names)
    session.add(
        WorkflowChange(
            workspace_id=workflow.workspace_id,
            workflow_id=workflow.id,
            workflow_name=workflow.name,
            version=workflow.version,
            actor_id=member.user.id,
            actor_email=member.user.email,
            changes=changes,
        )
    )


async def create_workflow(
    session: AsyncSession, *, vault: Vault, member: Member, name: str, enabled: bool, graph: Graph
) -> Workflow:
    member.require_editor("create workflows")
    name = name.strip()
    used = await _validate(session, vault, member.workspace.id, name, graph)
    graph_json = graph.model_dump(mode="json")
    workflow = Workflow(
        workspace_id=member.workspace.id,
        name=name,
        enabled=enabled,
        version=1,
        graph=graph_json,
        created_by_id=member.user.id,
    )
    session.add(workflow)
    await session.flush()
    await _write_usage(session, workflow, graph, used)
    await _record_change(session, member, workflow, {}, graph_json, [{"change": "created", "name": name}])
    await sync_schedule(session, workflow, now=utcnow())
    await session.commit()
    return workflow


async def update_workflow(
    session: AsyncSession,
    *,
    vault: Vault,
    member: Member,
    workflow_id: str,
    name: str | None,
    enabled: bool | None,
    graph: Graph | None,
    expected_version: int | None,
) -> Workflow:
    member.require_editor("edit workflows")
    workflow = await get_workflow(session, workspace_id=member.workspace.id, workflow_id=workflow_id)
    if expected_version is not None and expected_version != workflow.version:
        raise Conflict(
            f"This workflow was saved by someone else (now version {workflow.version}; you edited "
            f"version {expected_version}). Reload it and apply your changes again."
        )
    new_name = name.strip() if name is not None else workflow.name
    new_graph = graph if graph is not None else Graph.model_validate(workflow.graph)
    used = await _validate(session, vault, member.workspace.id, new_name, new_graph)
    before = workflow.graph
    extra: list[dict[str, Any]] = []
    if new_name != workflow.name:
        extra.append({"change": "workflow_renamed", "before": workflow.name, "after": new_name})
    if enabled is not None and enabled != workflow.enabled:
        extra.append({"change": "enabled" if enabled else "disabled"})
        workflow.enabled = enabled
    workflow.name = new_name
    workflow.graph = new_graph.model_dump(mode="json")
    workflow.version += 1
    workflow.updated_at = utcnow()
    await _write_usage(session, workflow, new_graph, used)
    await _record_change(session, member, workflow, before, workflow.graph, extra)
    await sync_schedule(session, workflow, now=workflow.updated_at)
    await session.commit()
    return workflow


async def delete_workflow(session: AsyncSession, *, member: Member, workflow_id: str) -> None:
    member.require_manager("delete workflows")
    workflow = await get_workflow(session, workspace_id=member.workspace.id, workflow_id=workflow_id)
    session.add(
        WorkflowChange(
            workspace_id=workflow.workspace_id,
            workflow_id=workflow.id,
            workflow_name=workflow.name,
            version=workflow.version,
            actor_id=member.user.id,
            actor_email=member.user.email,
            changes=[{"change": "deleted"}],
        )
    )
    await session.delete(workflow)
    await session.commit()


async def export_workflow(session: AsyncSession, *, member: Member, workflow_id: str) -> dict[str, Any]:
    """The workflow with each credential as a reference by name and type: never an id's value."""
    workflow = await get_workflow(session, workspace_id=member.workspace.id, workflow_id=workflow_id)
    names = await _credential_names(session, [workflow.graph])
    types = dict((await session.execute(select(Secret.id, Secret.type).where(Secret.id.in_(names)))).all())
    nodes = []
    for node in workflow.graph.get("nodes", []):
        config = dict(node.get("config", {}))
        credential_id = config.pop("credential_id", None)
        exported = {**node, "config": config}
        if credential_id:
            exported["credential"] = {"name": names.get(credential_id), "type": types.get(credential_id)}
        nodes.append(exported)
    return {
        "format": "flowvault.workflow/v1",
        "name": workflow.name,
        "version": workflow.version,
        "graph": {"nodes": nodes, "edges": workflow.graph.get("edges", [])},
    }


async def list_changes(
    session: AsyncSession, *, workspace_id: str, workflow_id: str | None = None, limit: int = 100
) -> list[WorkflowChange]:
    query = select(WorkflowChange).where(WorkflowChange.workspace_id == workspace_id)
    if workflow_id:
        query = query.where(WorkflowChange.workflow_id == workflow_id)
    rows = await session.scalars(query.order_by(WorkflowChange.at.desc()).limit(limit))
    return list(rows.all())


async def recently_saved_workspaces(session: AsyncSession, *, limit: int) -> list[str]:
    """The ids of the ``limit`` workspaces whose workflows were saved last, the latest first."""
    latest = func.max(Workflow.updated_at)
    found = await session.scalars(
        select(Workflow.workspace_id).group_by(Workflow.workspace_id).order_by(latest.desc()).limit(limit)
    )
    return list(found)


async def count_workflows(session: AsyncSession, *, workspace_id: str) -> int:
    return int(
        await session.scalar(select(func.count()).select_from(Workflow).where(Workflow.workspace_id == workspace_id))
        or 0
    )
