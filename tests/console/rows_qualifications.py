"""Permission-matrix rows of the console's qualification requests
(console/qualification_urls.py). The request is AutoWorks' (for the shared world's
``equipment``), made when the row's URL is built and kept in ``world`` for the POST body;
the operator's member and admin are redirected (302), another flagship firm gets 404."""

from __future__ import annotations

from .test_matrix import Row, seats

WORLD = ("equipment", "sme")
POSTED = seats(member=302, admin=302, other_flagship=404)


def _request(world) -> list:
    from equipment.models import QualificationRequest
    from organizations.models import Membership
    from tests.factories import MembershipFactory, UserFactory

    user = MembershipFactory(
        organization=world["sme"],
        role=Membership.Role.MEMBER,
        user=UserFactory(email="asker@precision.test"),
    ).user
    world["request"] = QualificationRequest.objects.create(
        user=user,
        organization=world["sme"],
        equipment=world["equipment"],
        note="Five years on 5-axis machines",
    )
    return [world["request"].pk]


ROWS = [
    Row("console:qualifications", "GET", seats()),
    Row(
        "console:qualification-grant",
        "POST",
        POSTED,
        uses=WORLD,
        args=_request,
        data=lambda w: {f"g{w['request'].pk}-expires": "2099-12-31"},
    ),
    Row(
        "console:qualification-refuse",
        "POST",
        POSTED,
        uses=WORLD,
        args=_request,
        data=lambda w: {f"r{w['request'].pk}-reason": "Take the safety course first"},
    ),
]
