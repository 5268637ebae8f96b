from pydantic import Field, SecretStr

from flowvault.nodes.base import CredentialFields, CredentialType, HostBinding
from flowvault.nodes.registry import register_credential_type


class TeamsWebhookFields(CredentialFields):
    webhook_url: SecretStr = Field(
        title="Incoming webhook URL",
        description="https://<tenant>.webhook.office.com/webhookb2/… — the URL is the secret",
    )


teams_webhook = register_credential_type(
    CredentialType(
        key="teams_webhook",
        name="Microsoft Teams Webhook",
        fields=TeamsWebhookFields,
        node_types=("teams",),
        hosts=HostBinding(
            service="teams",
            patterns=("*.webhook.office.com", "outlook.office.com", "*.logic.azure.com", "*.api.powerplatform.com"),
        ),
        description="Posts messages to a Teams channel through an incoming webhook",
    )
)
