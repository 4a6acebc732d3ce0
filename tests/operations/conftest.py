from django.contrib.auth import get_user_model

from organizations.models import Membership
from tests.bookings.conftest import (  # noqa: F401  (fixtures reused here)
    category,
    equipment,
    hub,
    local,
    make_equipment,
    make_org,
    operator,
    other_operator,
    other_sme,
    sme,
)
from tests.trials.conftest import receiver  # noqa: F401


def member(org, email: str, role: str):
    user = get_user_model().objects.create_user(email, email=email)
    Membership.objects.create(user=user, organization=org, role=role)
    return user
