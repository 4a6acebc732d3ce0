"""Helpers of the setup pages' tests and matrix rows (tests/console/rows_setup.py): the
forms as a browser sends them, and the objects the pages show. No tests here."""

from __future__ import annotations

from datetime import timedelta

from django.core.files.base import ContentFile
from django.utils import timezone

from bookings.models import Booking
from console.forms_setup import REQUIRED_TEXT, TEXT_FIELDS
from organizations.models import OrganizationAPIKey
from tests.factories import (
    BookingFactory,
    SharingAgreementFactory,
    TrialFactory,
    WebhookEndpointFactory,
)
from trials.models import DatasetRelease


def equipment_form(equipment, **changes) -> dict:
    """The edit page's form as the browser sends it for ``equipment``, with ``changes``
    (``name`` is the English name where the catalogue keeps one per language)."""
    data = {name: getattr(equipment, name) or "" for name in TEXT_FIELDS}
    if "name" in changes and "name" not in TEXT_FIELDS:
        changes[REQUIRED_TEXT] = changes.pop("name")
    data |= {
        "status": equipment.status,
        "hourly_rate": str(equipment.hourly_rate),
        "slot_granularity": equipment.slot_granularity,
        "min_duration": equipment.min_duration,
        "max_duration": equipment.max_duration,
        "lead_time": equipment.lead_time,
        "booking_horizon": equipment.booking_horizon,
        "changeover_buffer": equipment.changeover_buffer,
        "max_open_bookings_per_sme": equipment.max_open_bookings_per_sme or "",
        "result_source_kind": equipment.result_source_kind,
        "result_source_url": equipment.result_source_url,
        "result_source_config": "{}",
        "result_source_secret": "",
    }
    for flag in ("approval_required", "qualification_required"):
        if getattr(equipment, flag):
            data[flag] = "on"
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def agreement_form(*, university, hub, category, **changes) -> dict:
    data = {
        "title": "Machining data for Tsinghua",
        "university": university.slug,
        "hub": hub.slug,
        "categories": [category.slug],
        "anonymize": "on",
        "embargo_days": "30",
        "license": "CC-BY-4.0",
        "endpoint_url": "https://university.example/hooks/testbed",
        "valid_from": (timezone.localtime() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"),
        "valid_until": "",
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def make_agreement(operator, university, hub, category):
    return SharingAgreementFactory(
        operator=operator, university=university, hub=hub, categories=[category]
    )


def make_endpoint(operator):
    return WebhookEndpointFactory(organization=operator)


def make_key(organization, name: str = "MES") -> tuple[OrganizationAPIKey, str]:
    return OrganizationAPIKey.objects.create_key(organization=organization, name=name)


def make_release(
    *,
    operator,
    university,
    hub,
    category,
    equipment,
    sme,
    media_root,
    settings,
    content: bytes = b"PK-zip",
) -> DatasetRelease:
    """A delivered release of an SME's trial on ``equipment`` to ``university``."""
    settings.MEDIA_ROOT = str(media_root)
    agreement = make_agreement(operator, university, hub, category)
    start = timezone.now() - timedelta(days=40)
    booking = BookingFactory(
        equipment=equipment,
        organization=sme,
        start=start,
        end=start + timedelta(hours=2),
        status=Booking.Status.COMPLETED,
    )
    trial = TrialFactory(booking=booking)
    release = DatasetRelease.objects.create(
        trial=trial,
        agreement=agreement,
        recipient=university,
        webhook_id=f"msg_{trial.pk}",
        status=DatasetRelease.Status.DELIVERED,
        delivered_at=timezone.now(),
        sha256="0" * 64,
        size=len(content),
        row_count=60,
        terms={**agreement.terms(), "anonymize": True},
    )
    release.package.save("release.zip", ContentFile(content), save=True)
    return release
