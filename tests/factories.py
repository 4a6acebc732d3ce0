"""factory_boy factories, one per model. Defaults make a valid, minimal row; pass what a
test cares about."""

from __future__ import annotations

import copy
from datetime import timedelta
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone
from factory.django import DjangoModelFactory

from equipment.hours import ALWAYS_OPEN
from equipment.models import Capability, Category, Equipment, Hub, MaintenanceWindow, Qualification
from organizations.models import Membership, Organization
from organizations.validators import USCC_ALPHABET, uscc_check_character

TEST_PASSWORD = "test-pass-123"


def credit_code(n: int, prefix: str = "91110000") -> str:
    """The ``n``-th valid unified social credit code under ``prefix`` (type + region)."""
    body = ""
    for _ in range(9):
        n, digit = divmod(n, len(USCC_ALPHABET))
        body = USCC_ALPHABET[digit] + body
    first17 = prefix + body
    return first17 + uscc_check_character(first17)


def next_hour(hours: int = 24):
    """A whole hour ``hours`` from now (UTC), so times sit on any slot granularity."""
    now = timezone.now().replace(minute=0, second=0, microsecond=0)
    return now + timedelta(hours=hours)


class UserFactory(DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.test")
    username = factory.SelfAttribute("email")
    password = factory.django.Password(TEST_PASSWORD)


class OrganizationFactory(DjangoModelFactory):
    """An SME by default; ``OrganizationFactory(flagship=True)`` or ``kind=…`` for others."""

    class Meta:
        model = Organization

    class Params:
        flagship = factory.Trait(kind=Organization.Kind.FLAGSHIP)
        sme = factory.Trait(kind=Organization.Kind.SME)
        university = factory.Trait(kind=Organization.Kind.UNIVERSITY)

    kind = Organization.Kind.SME
    name = factory.Sequence(lambda n: f"Organisation {n}")
    slug = factory.Sequence(lambda n: f"org-{n}")
    credit_code = factory.Sequence(credit_code)
    verified = True


class MembershipFactory(DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    organization = factory.SubFactory(OrganizationFactory)
    role = Membership.Role.MEMBER


class HubFactory(DjangoModelFactory):
    """Open around the clock unless a test gives ``opening_hours``."""

    class Meta:
        model = Hub

    operator = factory.SubFactory(OrganizationFactory, flagship=True)
    name = factory.Sequence(lambda n: f"Hub {n}")
    slug = factory.Sequence(lambda n: f"hub-{n}")
    address = "1 Test Road, Beijing"
    timezone = "Asia/Shanghai"
    opening_hours = factory.LazyFunction(lambda: copy.deepcopy(ALWAYS_OPEN))


class CategoryFactory(DjangoModelFactory):
    class Meta:
        model = Category
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Category {n}")
    slug = factory.Sequence(lambda n: f"category-{n}")


class CapabilityFactory(DjangoModelFactory):
    class Meta:
        model = Capability
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Capability {n}")
    slug = factory.Sequence(lambda n: f"capability-{n}")


class EquipmentFactory(DjangoModelFactory):
    """``EquipmentFactory(capabilities=[cap, …])`` sets the many-to-many after saving."""

    class Meta:
        model = Equipment
        skip_postgeneration_save = True

    hub = factory.SubFactory(HubFactory)
    name = factory.Sequence(lambda n: f"Machine {n}")
    slug = factory.Sequence(lambda n: f"machine-{n}")
    category = factory.SubFactory(CategoryFactory)
    hourly_rate = Decimal("100.00")
    slot_granularity = 30
    min_duration = 60
    max_duration = 480

    @factory.post_generation
    def capabilities(self, create, extracted, **kwargs):
        if create and extracted:
            self.capabilities.set(extracted)


class MaintenanceWindowFactory(DjangoModelFactory):
    class Meta:
        model = MaintenanceWindow

    equipment = factory.SubFactory(EquipmentFactory)
    start = factory.LazyFunction(next_hour)
    end = factory.LazyAttribute(lambda o: o.start + timedelta(hours=2))
    reason = "Spindle service"


class QualificationFactory(DjangoModelFactory):
    """For one piece of equipment; pass ``equipment=None, category=…`` for a category."""

    class Meta:
        model = Qualification

    user = factory.SubFactory(UserFactory)
    equipment = factory.SubFactory(EquipmentFactory)
    category = None
