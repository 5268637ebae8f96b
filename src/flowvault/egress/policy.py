"""What one request may reach: the egress policy the engine builds for a node.

``allowed_hosts`` is the workspace allowlist (plus whatever hosts a node's service needs);
``exempt_private`` is the operator's ``FLOWVAULT_ALLOW_PRIVATE_HOSTS``. Both are normalised once,
here (see ``flowvault.egress.hosts`` for the forms and the ``*.domain`` rule); a malformed entry
raises ``ValueError`` when the policy is built, not when a request happens to use it.
"""

from __future__ import annotations

from dataclasses import dataclass

from flowvault.egress.addresses import AddressClass, IPAddress
from flowvault.egress.hosts import host_matches, normalize_host, normalize_pattern


@dataclass(frozen=True)
class EgressPolicy:
    """Where requests may go.

    - ``allowed_hosts``: exact hosts, IP addresses or ``*.domain`` patterns (subdomains only).
      Empty allows nothing.
    - ``exempt_private``: host names or IP addresses that may be (or resolve to) non-public
      addresses. Exemption never bypasses ``allowed_hosts``. A host name's exemption covers every
      address it resolves to except cloud metadata addresses, which only an exempted IP address
      itself unlocks (so a DNS change cannot point an exempted name at the metadata service).
    - ``max_redirects``: redirects followed per request; one more is refused.
    """

    allowed_hosts: tuple[str, ...] = ()
    exempt_private: frozenset[str] = frozenset()
    max_redirects: int = 5

    def __post_init__(self) -> None:
        if self.max_redirects < 0:
            raise ValueError("max_redirects must be zero or more")
        object.__setattr__(self, "allowed_hosts", tuple(normalize_pattern(p) for p in self.allowed_hosts))
        object.__setattr__(self, "exempt_private", frozenset(normalize_host(h) for h in self.exempt_private))

    def allows_host(self, host: str) -> bool:
        """Whether the normalised ``host`` is on the allowlist."""
        return host_matches(host, self.allowed_hosts)

    def exempts(self, host: str, address: IPAddress, found: AddressClass) -> bool:
        """Whether the operator allowed ``host`` (normalised) to reach the non-public ``address``."""
        if str(address) in self.exempt_private:
            return True
        return found.category != "metadata" and host in self.exempt_private


def parse_host_list(value: str) -> frozenset[str]:
    """Hosts from a comma- or whitespace-separated setting such as ``FLOWVAULT_ALLOW_PRIVATE_HOSTS``."""
    return frozenset(normalize_host(item) for item in value.replace(",", " ").split())
