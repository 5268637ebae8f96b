"""The four workspace roles and what each may do (SPEC §1, §2)."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    owner = "owner"
    admin = "admin"
    user = "user"
    viewer = "viewer"

    @property
    def manages_workspace(self) -> bool:
        """Members, settings, deleting workflows, every secret."""
        return self in (Role.owner, Role.admin)

    @property
    def can_edit(self) -> bool:
        """Create/edit/run workflows, create secrets, use any secret."""
        return self is not Role.viewer


INVITABLE_ROLES = (Role.admin, Role.user, Role.viewer)
