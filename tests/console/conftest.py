"""The console's world: the shared one (tests/fixtures/world.py: AutoWorks runs the
Yizhuang hub with a DMU 50, PhoneTech is another operator, Precision Parts and Green
Motor are SMEs) plus PhoneTech's own hub and machine, a university, and a logged-in
portal user for each seat the permission matrix checks."""

from __future__ import annotations

import pytest
from django.test import Client

from organizations.models import Membership, Organization
from tests.factories import HubFactory, MembershipFactory, UserFactory
from tests.fixtures.world import make_equipment, make_org

# The seats of the console's permission matrix (tests/console/test_matrix.py).
SEATS = ("anonymous", "sme", "university", "member", "admin", "other_flagship")


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def university(db) -> Organization:
    return make_org("tsinghua", Organization.Kind.UNIVERSITY, name="Tsinghua Lab")


@pytest.fixture
def other_hub(other_operator):
    return HubFactory(
        operator=other_operator, name="Shunyi Hub", slug="shunyi", timezone="Asia/Shanghai"
    )


@pytest.fixture
def other_equipment(other_hub, category):
    return make_equipment(other_hub, category, "other-cnc", name="Other CNC")


def _user(organization, role, email):
    return MembershipFactory(
        organization=organization, role=role, user=UserFactory(email=email)
    ).user


@pytest.fixture
def operator_admin(operator):
    return _user(operator, Membership.Role.ADMIN, "admin@autoworks.test")


@pytest.fixture
def operator_member(operator):
    """A flagship member with the operator role: runs the floor, not the organisation."""
    return _user(operator, Membership.Role.OPERATOR, "ops@autoworks.test")


@pytest.fixture
def console_admin(operator_admin) -> Client:
    return logged_in(operator_admin)


@pytest.fixture
def console_member(operator_member) -> Client:
    return logged_in(operator_member)


@pytest.fixture
def seats(sme, university, operator_admin, operator_member, other_operator) -> dict[str, Client]:
    """A client per seat: anonymous, an SME admin, a university admin, the operator's
    member (operator role) and admin, and an admin of another flagship firm."""
    return {
        "anonymous": Client(),
        "sme": logged_in(_user(sme, Membership.Role.ADMIN, "boss@precision.test")),
        "university": logged_in(_user(university, Membership.Role.ADMIN, "dean@tsinghua.test")),
        "member": logged_in(operator_member),
        "admin": logged_in(operator_admin),
        "other_flagship": logged_in(
            _user(other_operator, Membership.Role.ADMIN, "admin@phonetech.test")
        ),
    }
