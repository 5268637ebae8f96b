from pydantic import Field, SecretStr

from flowvault.nodes.base import CredentialFields, CredentialType, HostBinding
from flowvault.nodes.registry import register_credential_type


class SendGridKeyFields(CredentialFields):
    api_key: SecretStr = Field(title="API key", description="A SendGrid API key (SG.…) with mail.send")


sendgrid_api_key = register_credential_type(
    CredentialType(
        key="sendgrid_api_key",
        name="SendGrid API Key",
        fields=SendGridKeyFields,
        node_types=("sendgrid",),
        hosts=HostBinding(service="sendgrid"),
        description="Sends email through SendGrid v3 Mail Send",
    )
)
