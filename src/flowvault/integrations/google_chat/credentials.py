from pydantic import Field, SecretStr

from flowvault.nodes.base import CredentialFields, CredentialType, HostBinding
from flowvault.nodes.registry import register_credential_type


class GoogleChatWebhookFields(CredentialFields):
    webhook_url: SecretStr = Field(
        title="Webhook URL",
        description="https://chat.googleapis.com/v1/spaces/…/messages?key=…&token=… — the URL is the secret",
    )


google_chat_webhook = register_credential_type(
    CredentialType(
        key="google_chat_webhook",
        name="Google Chat Webhook",
        fields=GoogleChatWebhookFields,
        node_types=("google_chat",),
        hosts=HostBinding(service="google_chat", patterns=("chat.googleapis.com",)),
        description="Posts messages to a Google Chat space through an incoming webhook",
    )
)
