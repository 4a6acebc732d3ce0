"""Permission-matrix rows of the console's setup pages (equipment, sharing agreements,
webhooks, API keys, reports) and of the universities' datasets; the helpers that make
their objects (used by tests/console/test_setup*.py too).

The operator's seats (member, admin) see AutoWorks' objects; the other flagship firm
gets 404 for them (never 403), SMEs and universities 403, anonymous visitors the login
page. API keys are for the organisation's admins: the operator-role member gets 403."""

from __future__ import annotations

from .test_matrix import Row, seats
from .test_setup_world import (
    agreement_form,
    equipment_form,
    make_agreement,
    make_endpoint,
    make_key,
    make_release,
)

OTHER_404 = {"other_flagship": 404}


def _release(world):
    return make_release(
        operator=world["operator"],
        university=world["university"],
        hub=world["hub"],
        category=world["category"],
        equipment=world["equipment"],
        sme=world["sme"],
        media_root=world["tmp_path"],
        settings=world["settings"],
    )


EQUIPMENT = ("equipment",)
AGREEMENT = ("operator", "university", "hub", "category")
UNIVERSITY_ONLY = seats(university=200, member=403, admin=403, other_flagship=403)
ADMINS_ONLY = seats(member=403)

ROWS = [
    Row("console:equipment", "GET", seats()),
    Row(
        "console:equipment-edit",
        "GET",
        seats(**OTHER_404),
        uses=EQUIPMENT,
        args=lambda w: [w["equipment"].pk],
    ),
    Row(
        "console:equipment-edit",
        "POST",
        seats(member=302, admin=302, other_flagship=404),
        uses=EQUIPMENT,
        args=lambda w: [w["equipment"].pk],
        data=lambda w: equipment_form(w["equipment"], name="DMU 50 (5-axis)"),
    ),
    # Equipment without a result source: the page says there is nothing to test (200).
    Row(
        "console:equipment-test",
        "POST",
        seats(**OTHER_404),
        uses=EQUIPMENT,
        args=lambda w: [w["equipment"].pk],
    ),
    Row("console:agreements", "GET", seats()),
    Row("console:agreement-create", "GET", seats()),
    # The other firm does not run the hub named: refused at the hub field (400).
    Row(
        "console:agreement-create",
        "POST",
        seats(member=302, admin=302, other_flagship=400),
        uses=AGREEMENT,
        data=lambda w: agreement_form(
            university=w["university"], hub=w["hub"], category=w["category"]
        ),
    ),
    Row(
        "console:agreement",
        "GET",
        seats(**OTHER_404),
        uses=AGREEMENT,
        args=lambda w: [make_agreement(w["operator"], w["university"], w["hub"], w["category"]).pk],
    ),
    Row(
        "console:agreement",
        "POST",
        seats(member=302, admin=302, other_flagship=404),
        uses=AGREEMENT,
        args=lambda w: [make_agreement(w["operator"], w["university"], w["hub"], w["category"]).pk],
        data=lambda w: agreement_form(
            university=w["university"], hub=w["hub"], category=w["category"], title="Renamed"
        ),
    ),
    Row(
        "console:agreement-revoke",
        "POST",
        seats(member=302, admin=302, other_flagship=404),
        uses=AGREEMENT,
        args=lambda w: [make_agreement(w["operator"], w["university"], w["hub"], w["category"]).pk],
    ),
    Row("console:webhooks", "GET", seats()),
    Row(
        "console:webhooks",
        "POST",
        seats(member=302, admin=302, other_flagship=302),
        data=lambda w: {
            "url": "https://operator.example/hooks/testbed",
            "event_types": ["booking.*"],
        },
    ),
    Row(
        "console:webhook-active",
        "POST",
        seats(member=302, admin=302, other_flagship=404),
        uses=("operator",),
        args=lambda w: [make_endpoint(w["operator"]).pk],
        data=lambda w: {"active": "0"},
    ),
    Row(
        "console:webhook-delete",
        "POST",
        seats(member=302, admin=302, other_flagship=404),
        uses=("operator",),
        args=lambda w: [make_endpoint(w["operator"]).pk],
    ),
    Row("console:api-keys", "GET", ADMINS_ONLY),
    Row(
        "console:api-keys",
        "POST",
        seats(member=403, admin=302, other_flagship=302),
        data=lambda w: {"name": "MES line 3"},
    ),
    Row(
        "console:api-key-revoke",
        "POST",
        seats(member=403, admin=302, other_flagship=404),
        uses=("operator",),
        args=lambda w: [make_key(w["operator"])[0].prefix],
    ),
    Row("console:reports", "GET", seats()),
    Row("console:datasets", "GET", UNIVERSITY_ONLY),
    Row(
        "console:dataset",
        "GET",
        UNIVERSITY_ONLY,
        uses=(*AGREEMENT, "equipment", "sme", "tmp_path", "settings"),
        args=lambda w: [_release(w).pk],
    ),
    Row(
        "console:dataset-package",
        "GET",
        UNIVERSITY_ONLY,
        uses=(*AGREEMENT, "equipment", "sme", "tmp_path", "settings"),
        args=lambda w: [_release(w).pk],
    ),
]
