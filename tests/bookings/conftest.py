"""Fixtures for the booking engine: one operator with a 24/7 hub in Asia/Shanghai, two
verified SMEs, and a helper for local times."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from rest_framework.test import APIClient

from equipment.hours import ALWAYS_OPEN
from equipment.models import Category, Equipment, Hub
from organizations.models import Organization
from organizations.services import create_api_key

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(days: int, hour: int, minute: int = 0) -> datetime:
    """``days`` from today at hh:mm, Shanghai time (aware)."""
    today = datetime.now(SHANGHAI).replace(hour=0, minute=0, second=0, microsecond=0)
    return (today + timedelta(days=days)).replace(hour=hour, minute=minute)


def make_org(slug: str, kind: str, verified: bool = True) -> Organization:
    return Organization.objects.create(slug=slug, name=slug.title(), kind=kind, verified=verified)


def key_client(org: Organization) -> APIClient:
    _, key = create_api_key(organization=org, name="test")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


@pytest.fixture
def operator(db):
    return make_org("autoworks", Organization.Kind.FLAGSHIP)


@pytest.fixture
def other_operator(db):
    return make_org("phonetech", Organization.Kind.FLAGSHIP)


@pytest.fixture
def sme(db):
    return make_org("precision", Organization.Kind.SME)


@pytest.fixture
def other_sme(db):
    return make_org("greenmotor", Organization.Kind.SME)


@pytest.fixture
def hub(operator):
    return Hub.objects.create(operator=operator, name="Yizhuang", slug="yizhuang",
                              timezone="Asia/Shanghai", opening_hours=ALWAYS_OPEN)


@pytest.fixture
def category(db):
    return Category.objects.create(name="CNC machining", slug="cnc")


def make_equipment(hub, category, slug="cnc-1", **policy) -> Equipment:
    defaults = dict(slot_granularity=30, min_duration=60, max_duration=480, lead_time=0,
                    booking_horizon=60, changeover_buffer=0, hourly_rate=Decimal("400.00"))
    defaults.update(policy)
    return Equipment.objects.create(hub=hub, category=category, name=slug.upper(), slug=slug,
                                    **defaults)


@pytest.fixture
def equipment(hub, category):
    return make_equipment(hub, category)


@pytest.fixture
def sme_client(sme):
    return key_client(sme)


@pytest.fixture
def operator_client(operator):
    return key_client(operator)


def booking_body(equipment, start, end, **extra):
    return {"equipment": equipment.pk, "start": start.isoformat(), "end": end.isoformat(),
            "purpose": "Trial: titanium bracket roughing", **extra}
