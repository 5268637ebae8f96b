from pydantic import Field, SecretStr

from flowvault.nodes.base import CredentialFields, CredentialType, HostBinding
from flowvault.nodes.registry import register_credential_type

_HTTP_HOSTS = HostBinding(workspace_allowlist=True)


class BasicAuthFields(CredentialFields):
    username: str = Field(min_length=1, max_length=500, title="Username")
    password: SecretStr = Field(title="Password")


class BearerTokenFields(CredentialFields):
    token: SecretStr = Field(title="Bearer token", description="Sent as 'Authorization: Bearer <token>'")


class HeaderAuthFields(CredentialFields):
    header_name: str = Field(
        min_length=1,
        max_length=200,
        pattern=r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$",
        title="Header name",
        description="For example X-API-Key",
    )
    value: SecretStr = Field(title="Header value")


http_basic = register_credential_type(
    CredentialType(
        key="http_basic",
        name="Basic Auth",
        fields=BasicAuthFields,
        node_types=("http_request",),
        hosts=_HTTP_HOSTS,
        description="Username and password sent as HTTP Basic authentication",
    )
)
http_bearer = register_credential_type(
    CredentialType(
        key="http_bearer",
        name="Bearer Token",
        fields=BearerTokenFields,
        node_types=("http_request",),
        hosts=_HTTP_HOSTS,
        description="A token sent in the Authorization header",
    )
)
http_header = register_credential_type(
    CredentialType(
        key="http_header",
        name="Header Auth",
        fields=HeaderAuthFields,
        node_types=("http_request",),
        hosts=_HTTP_HOSTS,
        description="A secret sent in a header of your choice",
    )
)
