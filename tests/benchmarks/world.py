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
# The columns the raw loaders COPY or INSERT into bookings_booking (every bench hub is the
# bench operator's: operator_id is World.operator_id).
BOOKING_COLUMNS = ('equipment_id, organization_id, operator_id, start, "end", blocked_until, '
                   "status, purpose, price, decision_reason, created, updated")

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


def machines_at_bench_hub(world: World, n: int, slug: str) -> list[int]:
    """``n`` more machines at the bench hub (the bench policy), slugs ``slug-0`` …; ids."""
    from equipment.models import Equipment

    first = Equipment.objects.get(pk=world.equipment_ids[0])
    return [m.pk for m in Equipment.objects.bulk_create([
        Equipment(hub_id=first.hub_id, category_id=first.category_id, name=f"{slug} {i}",
                  slug=f"{slug}-{i}", **POLICY) for i in range(n)])]


@dataclass(frozen=True)
class SmallOperator:
    """A second flagship with one hub of ``machine_ids`` and an API key: an operator
    with a small share of the platform's bookings."""
    id: int
    hub_id: int
    machine_ids: list[int]
    api_key: str

    def remove(self) -> None:
        """The hub, its machines and the operator (their bookings deleted before)."""
        from equipment.models import Equipment, Hub
        from organizations.models import Organization

        Equipment.objects.filter(pk__in=self.machine_ids).delete()
        Hub.objects.filter(pk=self.hub_id).delete()
        Organization.objects.filter(pk=self.id).delete()


def small_operator(world: World, slug: str, machines: int = 1) -> SmallOperator:
    from equipment.models import Equipment, Hub
    from organizations.models import Organization
    from organizations.services import create_api_key

    first = Equipment.objects.select_related("hub").get(pk=world.equipment_ids[0])
    org = Organization.objects.create(kind=Organization.Kind.FLAGSHIP, name=f"{slug} operator",
                                      slug=f"{slug}-operator", verified=True)
    hub = Hub.objects.create(operator=org, name=f"{slug} hub", slug=f"{slug}-hub",
                             timezone=first.hub.timezone)
    ids = [m.pk for m in Equipment.objects.bulk_create([
        Equipment(hub=hub, category_id=first.category_id, name=f"{slug} small {i}",
                  slug=f"{slug}-small-{i}", **POLICY) for i in range(machines)])]
    _, key = create_api_key(organization=org, name=f"bench-{slug}")
    return SmallOperator(id=org.pk, hub_id=hub.pk, machine_ids=ids, api_key=key)
