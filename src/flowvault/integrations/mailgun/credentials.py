from pydantic import Field, SecretStr

from flowvault.nodes.base import CredentialFields, CredentialType, HostBinding
from flowvault.nodes.registry import register_credential_type


class MailgunKeyFields(CredentialFields):
    api_key: SecretStr = Field(title="Sending API key", description="A Mailgun domain sending key")


mailgun_api_key = register_credential_type(
    CredentialType(
        key="mailgun_api_key",
        name="Mailgun API Key",
        fields=MailgunKeyFields,
        node_types=("mailgun",),
        hosts=HostBinding(service="mailgun"),
        description="Sends email through the Mailgun Messages API",
    )
)
