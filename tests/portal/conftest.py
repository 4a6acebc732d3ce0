"""Portal fixtures: logged-in members of the shared world's SMEs (tests/fixtures/world.py:
Precision Parts with an admin and a member, Green Motor with an admin), a past booking of
Precision Parts and collected trials. No API keys."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.test import Client

from bookings.models import Booking
from organizations.models import Membership
from tests.factories import MembershipFactory, UserFactory
from tests.fixtures.world import SHANGHAI, collected_trial, local, make_booking

__all__ = ["collected_trial", "form_time", "local", "logged_in", "make_booking"]


def form_time(moment: datetime) -> str:
    """What a datetime-local input sends: wall-clock time in the hub's zone."""
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%dT%H:%M")


@pytest.fixture
def admin_user(sme):
    return MembershipFactory(organization=sme, role=Membership.Role.ADMIN,
                             user=UserFactory(email="lead@precision.test")).user


@pytest.fixture
def member_user(sme):
    return MembershipFactory(organization=sme, role=Membership.Role.MEMBER,
                             user=UserFactory(email="engineer@precision.test")).user


@pytest.fixture
def other_user(other_sme):
    return MembershipFactory(organization=other_sme, role=Membership.Role.ADMIN,
                             user=UserFactory(email="lead@greenmotor.test")).user


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def client_sme(admin_user):
    return logged_in(admin_user)


@pytest.fixture
def client_other(other_user):
    return logged_in(other_user)


@pytest.fixture
def past_booking(equipment, sme, admin_user):
    start = local(-3, 9)
    return make_booking(equipment, sme, start, start + timedelta(hours=3),
                        status=Booking.Status.COMPLETED, user=admin_user)


@pytest.fixture
def trial(past_booking):
    return collected_trial(past_booking)


@pytest.fixture
def other_trial(equipment, other_sme, other_user):
    start = local(-4, 9)
    booking = make_booking(equipment, other_sme, start, start + timedelta(hours=2),
                           status=Booking.Status.COMPLETED, user=other_user)
    return collected_trial(booking)
