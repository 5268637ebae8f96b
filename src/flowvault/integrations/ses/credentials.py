from pydantic import Field, SecretStr

from flowvault.nodes.base import CredentialFields, CredentialType, HostBinding
from flowvault.nodes.registry import register_credential_type


class SesAccessKeyFields(CredentialFields):
    access_key_id: str = Field(
        min_length=16, max_length=128, pattern=r"^[A-Z0-9]+$", title="Access key ID", description="AKIA…"
    )
    secret_access_key: SecretStr = Field(title="Secret access key")


ses_access_key = register_credential_type(
    CredentialType(
        key="ses_access_key",
        name="AWS Access Key (SES)",
        fields=SesAccessKeyFields,
        node_types=("ses",),
        hosts=HostBinding(service="ses"),
        description="Signs Amazon SES v2 requests with SigV4",
    )
)
