"""The executor: runs a workflow graph from its trigger along the path its branches choose.

It resolves each node's credential at the moment the node runs, renders templates, calls the node,
and reports every step through the host, redacted with every secret value the run has resolved
(and their derived forms). A run canceled meanwhile stops before its next node, or in the middle of
one (the node's task is cancelled). It imports neither the web framework nor the database."""

from __future__ import annotations

import asyncio
import base64
import logging
import traceback
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from pydantic import ValidationError as PydanticValidationError

from flowvault.egress import EgressBlocked
from flowvault.engine.host import CredentialUnavailable, CredentialUndecryptable, RunHost
from flowvault.engine.records import RunOutcome, StepRecord
from flowvault.nodes.registry import credential_type, node_type
from flowvault.nodes.sdk import NodeContext, NodeFailed, NodeResult, NodeType, ResolvedCredential
from flowvault.redaction import ActiveSecrets, Redactor
from flowvault.redaction.cache import BuildCache
from flowvault.workflows.schemas import Graph, NodeSpec
from flowvault.workflows.templating import Scope, TemplateError, node_key, node_slug, references, render

log = logging.getLogger("flowvault.engine")
CANCELED = "The run was canceled."
CANCELED_IN_NODE = "The run was canceled while this node was running."
UNDECRYPTABLE = (
    "could not be decrypted: its stored value was altered, or the master key does not match. Enter its value "
    "again (rotate it) in Settings → Secrets & API Keys, or restore the database from a backup."
)


class _Canceled(Exception):
    pass


async def _unless_canceled(work: Coroutine[Any, Any, NodeResult], host: RunHost) -> NodeResult:
    """Runs the node, stopping it (task cancellation) if the run is canceled meanwhile."""
    node = asyncio.ensure_future(work)
    watch = asyncio.ensure_future(host.wait_cancelled())
    watch.add_done_callback(lambda _: node.cancel())
    try:
        return await node
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if watch.done() and not watch.cancelled() and not (current is not None and current.cancelling()):
            raise _Canceled() from None  # the run was canceled, not this task
        raise
    finally:
        watch.cancel()
        if not node.done():  # this task was cancelled while the node ran: the node stops with it
            node.cancel()
            await asyncio.gather(node, return_exceptions=True)


def secret_fields(credential: ResolvedCredential) -> tuple[str, ...]:
    ctype = credential_type(credential.type)
    return ctype.secret_field_names if ctype else tuple(credential.fields)


Pairs = tuple[tuple[str, str], ...]


def masked_pairs(credential: ResolvedCredential) -> Pairs:
    """``(credential name, value)`` for every value of ``credential`` a run must mask: its secret
    fields and, for HTTP Basic, the ``user:password`` pair and its base64 wire token (a credential in
    itself: its own forms, hex, percent-encoded..., are masked too)."""
    pairs: dict[tuple[str, str], None] = {}
    for field_name in secret_fields(credential):
        value = credential.fields.get(field_name)
        if value:
            pairs[(credential.name, value)] = None
    if credential.type == "http_basic" and "username" in credential.fields and "password" in credential.fields:
        pair = f"{credential.fields['username']}:{credential.fields['password']}"
        pairs[(credential.name, pair)] = None
        pairs[(credential.name, base64.b64encode(pair.encode()).decode("ascii"))] = None
    return tuple(pairs)


def _first_credential(credential: ResolvedCredential) -> tuple[Pairs, Redactor]:
    pairs = masked_pairs(credential)
    return pairs, Redactor(pairs)  # cached here, with its pairs: not in Redactor.build's cache as well


_FIRST: BuildCache[tuple[Pairs, Redactor]] = BuildCache()
"""A run's first credential, as the run before it resolved it: its pairs and redactor. Most runs use
one credential, the same as the run before; keyed by its content (values included, which the redactor
holds anyway; see ``redaction/cache.py``), so a rotated value never meets the old entry."""


class RunSecrets:
    """Every secret value this run resolved, and the redactor built from them."""

    def __init__(self) -> None:
        self._pairs: dict[tuple[str, str], None] = {}
        self.redactor = Redactor.empty()
        self._token: object | None = None

    def add(self, credential: ResolvedCredential) -> None:
        if not self._pairs:
            key = (credential.type, credential.name, tuple(credential.fields.items()))
            pairs, redactor = _FIRST.get_or_build(key, partial(_first_credential, credential))
            if pairs:
                self._pairs = dict.fromkeys(pairs)
                self.redactor = redactor
                self._register()
            return
        before = len(self._pairs)
        self._pairs.update(dict.fromkeys(masked_pairs(credential)))
        if len(self._pairs) != before:
            self.redactor = Redactor.build(list(self._pairs))
            self._register()

    def _register(self) -> None:
        if self._token is not None:
            ActiveSecrets.unregister(self._token)
        self._token = ActiveSecrets.register(self.redactor)

    def close(self) -> None:
        if self._token is not None:
            ActiveSecrets.unregister(self._token)
            self._token = None


def topological_order(graph: Graph) -> list[NodeSpec]:
    by_id = {n.id: n for n in graph.nodes}
    indegree = {n.id: 0 for n in graph.nodes}
    outgoing: dict[str, list[str]] = defaultdict(list)
    for edge in graph.edges:
        outgoing[edge.source].append(edge.target)
        indegree[edge.target] += 1
    queue = deque(n.id for n in graph.nodes if indegree[n.id] == 0)
    order = []
    while queue:
        current = queue.popleft()
        order.append(by_id[current])
        for target in outgoing[current]:
            indegree[target] -= 1
            if indegree[target] == 0:
                queue.append(target)
    return order


@dataclass
class RedactedBlock:
    """A blocked request as it may be recorded: a template can put a secret in the host (and so in
    the reason) as well as in the URL, so all three are redacted."""

    kind: str
    reason: str
    host: str
    url: str

    @classmethod
    def of(cls, blocked: EgressBlocked, redactor: Redactor) -> RedactedBlock:
        redact = redactor.redact
        return cls(blocked.kind, redact(blocked.reason), redact(blocked.host), redact(blocked.url))


@dataclass
class NodeRun:
    step: StepRecord
    output: Any = None
    branch: str | None = None


class Executor:
    async def execute(self, graph: Graph, run_input: Mapping[str, Any], host: RunHost) -> RunOutcome:
        secrets = RunSecrets()
        try:
            return await self._execute(graph, dict(run_input), host, secrets)
        finally:
            secrets.close()

    async def _execute(self, graph: Graph, run_input: dict[str, Any], host: RunHost, secrets: RunSecrets) -> RunOutcome:
        kinds = {n.id: node_type(n.type) for n in graph.nodes}
        triggers = [n for n in graph.nodes if (k := kinds[n.id]) is not None and k.category == "trigger"]
        if not triggers:
            return RunOutcome("failed", "The workflow has no trigger: add a Manual, Webhook or Schedule trigger.")
        trigger = triggers[0]
        incoming: dict[str, list[tuple[str, str | None]]] = defaultdict(list)
        for edge in graph.edges:
            incoming[edge.target].append((edge.source, edge.source_handle or None))
        scope_nodes: dict[str, Any] = {}
        branches: dict[str, str | None] = {}
        path: list[str] = []
        trigger_output: Mapping[str, Any] = {}
        for node in topological_order(graph):
            reached = node.id == trigger.id or any(
                source in branches and (branches[source] is None or handle == branches[source])
                for source, handle in incoming[node.id]
            )
            kind = kinds[node.id]
            if not reached:
                continue
            if kind is None:
                return RunOutcome("failed", f"Node '{node.name}' has the unknown type '{node.type}'.", path)
            if await host.cancelled():
                return RunOutcome("canceled", CANCELED, path)
            await host.node_starting()
            path.append(node.id)
            ran = await self._run_node(len(path), node, kind, host, secrets, run_input, trigger_output, scope_nodes)
            await host.record_step(ran.step)
            if ran.step.status == "canceled":
                return RunOutcome("canceled", CANCELED, path)
            if ran.step.status == "failed":
                return RunOutcome("failed", f"Node '{node.name}' failed: {ran.step.error}", path)
            branches[node.id] = ran.branch
            scope_nodes[node_key(node.name)] = scope_nodes[node_slug(node.name)] = ran.output
            if node.id == trigger.id and isinstance(ran.output, Mapping):
                trigger_output = ran.output
        return RunOutcome("succeeded", None, path)

    async def _run_node(
        self,
        seq: int,
        node: NodeSpec,
        kind: NodeType,
        host: RunHost,
        secrets: RunSecrets,
        run_input: dict[str, Any],
        trigger_output: Mapping[str, Any],
        scope_nodes: dict[str, Any],
    ) -> NodeRun:
        started = host.now()
        logs: list[str] = []
        credentials: list[dict[str, str]] = []
        rendered: Any = node.config
        result: NodeResult | None = None
        error: str | None = None
        canceled = False

        async def use(credential: ResolvedCredential) -> None:
            secrets.add(credential)
            entry = {"id": credential.id, "name": credential.name}
            if entry not in credentials:
                credentials.append(entry)
                await host.credential_used(node.id, node.name, credential)

        try:
            credential = None
            credential_id = kind.credential_id(node.config)
            if credential_id is not None:
                try:
                    credential = await host.resolve_credential(credential_id)
                except CredentialUnavailable as gone:
                    named = f"'{gone.name}' (id {credential_id})" if gone.name else f"(id {credential_id})"
                    if isinstance(gone, CredentialUndecryptable):
                        raise NodeFailed(f"its credential {named} {UNDECRYPTABLE}") from None
                    raise NodeFailed(
                        f"its credential {named} was deleted or is missing; select another in the node's "
                        "Credentials dropdown."
                    ) from None
                await use(credential)
            rendered = await _render(node, kind, trigger_output, scope_nodes, host, use)
            try:
                config = kind.Config.model_validate(rendered)
            except PydanticValidationError as exc:
                first = exc.errors(include_input=False, include_url=False)[0]
                field = ".".join(str(p) for p in first["loc"]) or "config"
                raise NodeFailed(f"'{field}' {first['msg']} (after templates were filled in).") from None
            ctx = NodeContext(
                node_id=node.id,
                node_name=node.name,
                http=host.http_client(kind),
                credential=credential,
                service_url=host.service_url,
                sleep=host.sleep,
                log=logs.append,
                run_input=run_input,
            )
            result = await _unless_canceled(kind.run(ctx, config), host)
        except _Canceled:
            canceled, error = True, CANCELED_IN_NODE
        except (NodeFailed, TemplateError) as exc:
            error = str(exc)
        except EgressBlocked as exc:
            error = exc.reason
            shown = RedactedBlock.of(exc, secrets.redactor)
            await host.record_blocked(node.id, node.name, shown, shown.url)
        except Exception as exc:  # a bug in a node must fail the run, not the worker
            error = f"unexpected error: {type(exc).__name__}: {exc}"
            log.warning(
                "node %s raised: %s", node.id, secrets.redactor.redact("".join(traceback.format_exception(exc)))
            )
        shown_input, shown_output, shown_error, shown_logs = secrets.redactor.redact_values(
            rendered, result.output if result else None, error, logs
        )
        step = StepRecord(
            seq=seq,
            node_id=node.id,
            node_name=node.name,
            node_type=node.type,
            status="succeeded" if result is not None else "canceled" if canceled else "failed",
            input=shown_input,
            output=shown_output,
            error=shown_error,
            credentials=credentials,
            logs=shown_logs if isinstance(shown_logs, list) else [shown_logs],  # a failed redaction: its marker
            started_at=started,
            finished_at=host.now(),
        )
        return NodeRun(step, result.output if result else None, result.branch if result else None)


async def _render(
    node: NodeSpec,
    kind: NodeType,
    trigger: Mapping[str, Any],
    nodes: dict[str, Any],
    host: RunHost,
    use: Callable[[ResolvedCredential], Awaitable[None]],
) -> dict[str, Any]:
    """Renders templates; ``{{secrets.NAME}}`` resolves (now, and only here) in the fields the type allows."""
    resolved: dict[str, str] = {}
    for field_name in kind.secret_template_fields:
        for ref in references(node.config.get(field_name)):
            if ref.root != "secrets" or len(ref.path) != 1 or str(ref.path[0]) in resolved:
                continue
            name = str(ref.path[0])
            try:
                found = await host.resolve_secret_by_name(name)
            except CredentialUndecryptable:
                raise TemplateError(f"'{ref.text}': the credential '{name}' {UNDECRYPTABLE}") from None
            except CredentialUnavailable:
                raise TemplateError(
                    f"'{ref.text}': no HTTP credential named '{name}' exists any more; create it in "
                    "Settings → Secrets & API Keys."
                ) from None
            await use(found)
            resolved[name] = found.fields[secret_fields(found)[0]]
    plain = Scope(trigger=trigger, nodes=nodes)
    with_secrets = Scope(trigger=trigger, nodes=nodes, secrets=resolved.__getitem__)
    return {
        key: render(value, with_secrets if key in kind.secret_template_fields else plain)
        for key, value in node.config.items()
    }
