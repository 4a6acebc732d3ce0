"""Reads about organisations and who acts for them."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet
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


def operator_recipients(organization_id: int) -> list[str]:
    """E-mail addresses of the organisation's administrators and operators (who hear about
    its hubs' bookings, releases and webhook endpoints)."""
    return list(dict.fromkeys(Membership.objects.filter(
        organization_id=organization_id,
        role__in=(Membership.Role.ADMIN, Membership.Role.OPERATOR),
    ).exclude(user__email="").values_list("user__email", flat=True)))


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


def universities() -> QuerySet[Organization]:
    """The partner universities an operator may share trial data with."""
    return Organization.objects.filter(kind=Organization.Kind.UNIVERSITY).order_by("name")
