from __future__ import annotations

from django.db import transaction

from core.errors import NotFound

from .models import Organization, OrganizationAPIKey


def create_api_key(*, organization: Organization, name: str) -> tuple[OrganizationAPIKey, str]:
    """Create a key for ``organization``; returns the row and the secret, which is never
    stored in clear and cannot be shown again."""
    with transaction.atomic():
        return OrganizationAPIKey.objects.create_key(organization=organization, name=name)


def revoke_api_key(*, organization: Organization, prefix: str) -> OrganizationAPIKey:
    key = OrganizationAPIKey.objects.filter(organization=organization, prefix=prefix).first()
    if key is None:
        raise NotFound("No such API key.")
    if not key.revoked:
        key.revoked = True
        key.save(update_fields=["revoked"])
    return key
