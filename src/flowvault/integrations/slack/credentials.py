from pydantic import Field, SecretStr

from flowvault.nodes.base import CredentialFields, CredentialType, HostBinding
from flowvault.nodes.registry import register_credential_type


class SlackTokenFields(CredentialFields):
    token: SecretStr = Field(title="Bot token", description="A bot token (xoxb-…) with the chat:write scope")


slack_token = register_credential_type(
    CredentialType(
        key="slack_token",
        name="Slack Bot Token",
        fields=SlackTokenFields,
        node_types=("slack",),
        hosts=HostBinding(service="slack"),
        description="Posts messages through the Slack Web API",
    )
)
