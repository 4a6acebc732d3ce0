"""The terms a consent binds (invariant 7), and the terms a release is built under.

Terms are a plain dict (stored as JSON on each ``AgreementVersion`` and ``DatasetRelease``):
``anonymize``, ``shift_timestamps``, ``embargo_days``, ``license``, ``hub`` (id),
``university`` (id) and ``categories`` (sorted ids). A release rests on a consent given under
one version's terms; the agreement's terms may have changed since. It is built under the
stricter of the two where "stricter" has a meaning (anonymisation, timestamp shift,
embargo), and held — not released — where it has none (licence, recipient, scope): those
need the SME's consent to the new terms.
"""

from __future__ import annotations

from equipment.models import Category, Hub
from organizations.models import Organization

# Why a release waits for the SME's consent to new terms (``DatasetRelease.held``).
LICENSE_CHANGED = "license_changed"
RECIPIENT_CHANGED = "recipient_changed"
SCOPE_CHANGED = "scope_changed"
EMBARGO = "embargo"


def binding(consented: dict, current: dict, *, hub_id: int,
            category_id: int) -> tuple[dict | None, str]:
    """The terms a trial on ``hub_id``/``category_id`` may be released under, given the
    consented and the current terms: ``(terms, "")``, or ``(None, reason)`` when the release
    must wait for new consent."""
    if consented["university"] != current["university"]:
        return None, RECIPIENT_CHANGED
    if (consented["hub"] != current["hub"] or hub_id != consented["hub"]
            or category_id not in consented["categories"]):
        return None, SCOPE_CHANGED
    if consented["license"] != current["license"]:
        return None, LICENSE_CHANGED
    return {
        **consented,
        "anonymize": bool(consented["anonymize"] or current["anonymize"]),
        "shift_timestamps": bool(consented["shift_timestamps"] or current["shift_timestamps"]),
        "embargo_days": max(consented["embargo_days"], current["embargo_days"]),
    }, ""


def changed(old: dict, new: dict) -> list[str]:
    """The names of the terms that differ."""
    return [key for key in sorted(set(old) | set(new)) if old.get(key) != new.get(key)]


def describe(terms: dict) -> dict:
    """Terms as the API shows them: slugs instead of ids."""
    hub = Hub.objects.filter(pk=terms["hub"]).values_list("slug", flat=True).first()
    university = (Organization.objects.filter(pk=terms["university"])
                  .values_list("slug", flat=True).first())
    categories = sorted(Category.objects.filter(pk__in=terms["categories"])
                        .values_list("slug", flat=True))
    return {"anonymize": terms["anonymize"], "shift_timestamps": terms["shift_timestamps"],
            "embargo_days": terms["embargo_days"], "license": terms["license"],
            "hub": hub, "university": university, "categories": categories}
