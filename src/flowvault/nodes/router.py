from __future__ import annotations

from fastapi import APIRouter

from flowvault.nodes.registry import credential_types, node_types
from flowvault.nodes.schemas import CredentialFieldRead, CredentialTypeRead, NodeTypeRead

router = APIRouter(prefix="/api/v1", tags=["catalogue"])


@router.get("/credential-types", response_model=list[CredentialTypeRead])
async def list_credential_types() -> list[CredentialTypeRead]:
    return [
        CredentialTypeRead(
            key=ct.key,
            name=ct.name,
            description=ct.description,
            fields=[
                CredentialFieldRead(
                    name=f.name,
                    label=f.label,
                    secret=f.secret,
                    required=f.required,
                    description=f.description,
                    choices=list(f.choices),
                )
                for f in ct.field_specs
            ],
            node_types=list(ct.node_types),
            hosts=ct.hosts.describe(),
            json_schema=ct.fields.model_json_schema(),
        )
        for ct in sorted(credential_types().values(), key=lambda c: c.key)
    ]


CATEGORY_ORDER = {"trigger": 0, "action": 1, "logic": 2}


@router.get("/node-types", response_model=list[NodeTypeRead])
async def list_node_types() -> list[NodeTypeRead]:
    return [
        NodeTypeRead(
            key=n.key,
            version=n.version,
            name=n.name,
            category=n.category,
            description=n.description,
            credential_types=list(n.credential_types),
            branches=list(n.branches),
            secret_template_fields=list(n.secret_template_fields),
            config_schema=n.Config.model_json_schema(),
            output_schema=n.Output.model_json_schema(),
        )
        for n in sorted(node_types().values(), key=lambda n: (CATEGORY_ORDER.get(n.category, 9), n.name))
    ]
