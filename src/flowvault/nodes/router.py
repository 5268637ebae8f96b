from __future__ import annotations

from fastapi import APIRouter

from flowvault.nodes.registry import credential_types
from flowvault.nodes.schemas import CredentialFieldRead, CredentialTypeRead

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
