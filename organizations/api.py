"""API helpers shared by every app's viewsets: who is acting, and what kind they are."""

from __future__ import annotations

from rest_framework import permissions

from .errors import WRONG_ORGANIZATION_KIND
from .models import Organization
from .selectors import acting_organization, acting_user


class ActorMixin:
    """Gives a view ``self.org`` (the acting organisation) and ``self.actor_user``."""

    @property
    def org(self) -> Organization | None:
        if not hasattr(self, "_org"):
            self._org = acting_organization(self.request.user)
        return self._org

    @property
    def actor_user(self):
        return acting_user(self.request.user)

    def require_kind(self, *kinds: str) -> Organization:
        org = self.org
        if org is None or org.kind not in kinds:
            raise WRONG_ORGANIZATION_KIND.error(kinds=" / ".join(kinds))
        return org


class HasOrganization(permissions.BasePermission):
    """Authenticated and acting for an organisation."""

    message = "Authenticate with an organisation API key."

    def has_permission(self, request, view):
        return bool(request.user and request.user.is_authenticated
                    and acting_organization(request.user) is not None)
