"""The one registry of credential types. Integrations register by declaration; a duplicate key
refuses to start. ``load_integrations`` imports every integration package, so nothing is listed
by hand."""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from typing import TypeVar

from flowvault.nodes.base import CredentialType
from flowvault.nodes.sdk import NodeType


class DuplicateKeyError(RuntimeError):
    pass


_credential_types: dict[str, CredentialType] = {}
_node_types: dict[str, NodeType] = {}
_loaded = False


def register_credential_type(credential_type: CredentialType) -> CredentialType:
    if credential_type.key in _credential_types:
        raise DuplicateKeyError(f"credential type '{credential_type.key}' is declared twice")
    _credential_types[credential_type.key] = credential_type
    return credential_type


N = TypeVar("N", bound=type[NodeType])


def register_node_type(cls: N) -> N:
    """Class decorator: registers one instance of the node type under its key."""
    if cls.key in _node_types:
        raise DuplicateKeyError(f"node type '{cls.key}' is declared twice")
    _node_types[cls.key] = cls()
    return cls


def load_integrations() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    import flowvault.integrations as package

    for module in pkgutil.iter_modules(package.__path__, prefix=f"{package.__name__}."):
        for part in ("credentials", "node"):
            if importlib.util.find_spec(f"{module.name}.{part}") is not None:
                importlib.import_module(f"{module.name}.{part}")


def credential_types() -> dict[str, CredentialType]:
    load_integrations()
    return dict(_credential_types)


def credential_type(key: str) -> CredentialType | None:
    load_integrations()
    return _credential_types.get(key)


def credential_types_for_node(node_type: str) -> list[CredentialType]:
    return [ct for ct in credential_types().values() if node_type in ct.node_types]


def node_types() -> dict[str, NodeType]:
    load_integrations()
    return dict(_node_types)


def node_type(key: str) -> NodeType | None:
    load_integrations()
    return _node_types.get(key)
