"""Reads about organisations and who acts for them."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Prefetch, QuerySet
from django.utils import timezone

from .auth import OrganizationPrincipal
from .models import Invitation, Membership, Organization


def acting_organization(principal) -> Organization | None:
    """The organisation a request acts for: an API key's own, or the user's first
    membership (portal users belong to one organisation)."""
    if isinstance(principal, OrganizationPrincipal):
        return principal.organization
    if principal is None or not getattr(principal, "is_authenticated", False):
        return None
    membership = (
        Membership.objects.select_related("organization").filter(user=principal).first()
    )
    return membership.organization if membership else None


def acting_user(principal) -> AbstractBaseUser | None:
    """The person behind a request, or None for an API key."""
    if isinstance(principal, OrganizationPrincipal) or principal is None:
        return None
    return principal if getattr(principal, "is_authenticated", False) else None


def members_of(*, organization: Organization) -> QuerySet[Membership]:
    return Membership.objects.filter(organization=organization).select_related("user")


def open_invitations(*, organization: Organization) -> QuerySet[Invitation]:
    """Invitations of ``organization`` neither accepted, revoked nor expired."""
    return (Invitation.objects.filter(organization=organization, accepted_at__isnull=True,
                                      revoked_at__isnull=True, expires__gt=timezone.now())
            .select_related("invited_by").order_by("-created"))


def invitation_by_token(token: str) -> Invitation | None:
    return (Invitation.objects.select_related("organization", "invited_by")
            .filter(token=token).first())


def _addresses(organization_id: int, roles: tuple[str, ...]) -> list[str]:
    return list(dict.fromkeys(Membership.objects.filter(
        organization_id=organization_id, role__in=roles,
    ).exclude(user__email="").values_list("user__email", flat=True)))


def member_addresses(organization_id: int, users) -> list[str]:
    """The e-mail addresses of those of ``users`` (None allowed) who still belong to the
    organisation, in their order: a person who has left hears nothing more of its
    bookings or requests."""
    ids = [user.pk for user in users if user is not None and user.email]
    if not ids:
        return []
    current = set(Membership.objects.filter(organization_id=organization_id, user_id__in=ids)
                  .values_list("user_id", flat=True))
    return list(dict.fromkeys(user.email for user in users
                              if user is not None and user.pk in current and user.email))


def operator_recipients(organization_id: int) -> list[str]:
    """E-mail addresses of the organisation's administrators and operators (who hear about
    its hubs' bookings, releases, webhook endpoints and settlement claims)."""
    return _addresses(organization_id, (Membership.Role.ADMIN, Membership.Role.OPERATOR))


def admin_recipients(organization_id: int) -> list[str]:
    """E-mail addresses of the organisation's administrators (who hear what concerns the
    firm as a whole: its statements, changed agreement terms, a request whose asker left)."""
    return _addresses(organization_id, (Membership.Role.ADMIN,))


def staff_recipients() -> list[str]:
    """E-mail addresses of platform staff: active superusers and ``settings.ADMINS``."""
    superusers = (get_user_model().objects.filter(is_superuser=True, is_active=True)
                  .exclude(email="").values_list("email", flat=True))
    return list(dict.fromkeys([*superusers, *(address for _name, address in settings.ADMINS)]))


def api_keys_of(organization: Organization) -> QuerySet:
    """The organisation's API keys, newest first (revoked ones too: the console lists them)."""
    from .models import OrganizationAPIKey

    return OrganizationAPIKey.objects.filter(organization=organization).order_by("-created")


def webhook_endpoints_of(organization: Organization) -> QuerySet:
    """The organisation's event webhook endpoints; another organisation's are not found."""
    from core.models import WebhookEndpoint

    return WebhookEndpoint.objects.filter(organization=organization).order_by("-created")


def recent_deliveries(endpoint, limit: int = 10) -> list:
    """The latest outbox messages to ``endpoint`` (status, attempts, last error)."""
    return list(endpoint.messages.order_by("-created", "-pk")[:limit])


def webhook_deliveries(organization: Organization | None, endpoint_id) -> QuerySet:
    """The outbox messages to one of ``organization``'s webhook endpoints, with their
    delivery attempts; another organisation's endpoint (or none) is ``not_found``."""
    from core.errors import NOT_FOUND, valid_id
    from core.models import DeliveryLog, OutboxMessage

    key = valid_id(endpoint_id)
    if organization is None or key is None or not webhook_endpoints_of(organization).filter(
            pk=key).exists():
        raise NOT_FOUND.error()
    return (OutboxMessage.objects.filter(endpoint_id=key)
            .prefetch_related(Prefetch("log", queryset=DeliveryLog.objects.order_by("at", "pk"))))


def universities() -> QuerySet[Organization]:
    """The partner universities an operator may share trial data with."""
    return Organization.objects.filter(kind=Organization.Kind.UNIVERSITY).order_by("name")
