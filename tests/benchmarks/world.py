"""The data every benchmark shares, made through the app's own models and services:
one flagship operator with a 24/7 hub in Asia/Shanghai, equipment with a permissive
booking policy, and verified SMEs holding API keys. Call after ``django.setup()``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")
PURPOSE = "Benchmark trial: titanium bracket roughing"

# Booking policy of every bench equipment: anything on the 30-minute grid from now to
# ten years ahead, no buffer, confirmed at once.
POLICY = dict(slot_granularity=30, min_duration=30, max_duration=480, lead_time=0,
              booking_horizon=3650, changeover_buffer=0, approval_required=False,
              hourly_rate=Decimal("400.00"))


@dataclass(frozen=True)
class Sme:
    id: int
    slug: str
    api_key: str  # the secret, "prefix.secret"


@dataclass(frozen=True)
class World:
    operator_id: int
    hub_id: int
    equipment_ids: list[int]  # one per load client (figures A and B)
    availability_equipment_id: int  # figure C: the equipment with many bookings
    smes: list[Sme]


def local_midnight(days_from_today: int) -> datetime:
    today = datetime.now(SHANGHAI).replace(hour=0, minute=0, second=0, microsecond=0)
    return today + timedelta(days=days_from_today)


def build(clients: int = 8) -> World:
    from equipment.hours import ALWAYS_OPEN
    from equipment.models import Category, Equipment, Hub
    from organizations.models import Organization
    from organizations.services import create_api_key

    operator = Organization.objects.create(kind=Organization.Kind.FLAGSHIP, name="Autoworks",
                                           slug="autoworks", verified=True)
    hub = Hub.objects.create(operator=operator, name="Yizhuang 24/7", slug="yizhuang",
                             timezone="Asia/Shanghai", opening_hours=ALWAYS_OPEN)
    category = Category.objects.create(name="CNC machining", slug="cnc")
    equipment = [
        Equipment.objects.create(hub=hub, category=category, name=f"CNC {i + 1}",
                                 slug=f"cnc-{i + 1}", **POLICY)
        for i in range(clients)
    ]
    busy = Equipment.objects.create(hub=hub, category=category, name="Busy CNC",
                                    slug="cnc-busy", **POLICY)
    smes = []
    for i in range(clients):
        org = Organization.objects.create(kind=Organization.Kind.SME, name=f"SME {i + 1}",
                                          slug=f"sme-{i + 1}", verified=True)
        _, secret = create_api_key(organization=org, name="bench")
        smes.append(Sme(id=org.pk, slug=org.slug, api_key=secret))
    return World(operator_id=operator.pk, hub_id=hub.pk,
                 equipment_ids=[e.pk for e in equipment],
                 availability_equipment_id=busy.pk, smes=smes)
