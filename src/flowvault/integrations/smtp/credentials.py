from pydantic import Field, SecretStr

from flowvault.nodes.base import CredentialFields, CredentialType, HostBinding
from flowvault.nodes.registry import register_credential_type


class SmtpLoginFields(CredentialFields):
    username: str = Field(min_length=1, max_length=500, title="Username")
    password: SecretStr = Field(title="Password")


smtp_login = register_credential_type(
    CredentialType(
        key="smtp_login",
        name="SMTP Login",
        fields=SmtpLoginFields,
        node_types=("smtp",),
        hosts=HostBinding(workspace_allowlist=True),
        description="Logs in to an SMTP server to send email",
    )
)
