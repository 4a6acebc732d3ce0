"""Reads of the catalog. The catalog (hubs, equipment, their photos and documents) is
public: anyone may read it, signed in or not; what an organisation may change is narrowed
by ``operated_by``."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone, translation

from organizations.models import Organization

from .models import (
    TERMS_CACHE_KEY,
    Capability,
    Equipment,
    EquipmentDocument,
    EquipmentPhoto,
    Hub,
    MaintenanceWindow,
    Metric,
    SpecLabel,
)
from .signals import equipment_unavailable_preview


def hub_list() -> QuerySet[Hub]:
    return Hub.objects.select_related("operator")


def hubs_operated_by(organization: Organization | None) -> QuerySet[Hub]:
    return hub_list().filter(operator=organization)


def equipment_list() -> QuerySet[Equipment]:
    """Every piece of equipment with what its catalogue card shows: hub, operator,
    category, capabilities, and ``cover_photo_id`` (its first photo, or None)."""
    cover = (EquipmentPhoto.objects.filter(equipment=OuterRef("pk"))
             .order_by("position", "pk").values("pk")[:1])
    return (Equipment.objects.select_related("hub", "hub__operator", "category")
            .prefetch_related("capabilities")
            .annotate(cover_photo_id=Subquery(cover)))


def equipment_operated_by(organization: Organization | None) -> QuerySet[Equipment]:
    """Equipment whose hub ``organization`` operates; anything else is 'not found' to it."""
    return equipment_list().filter(hub__operator=organization)


def _languages() -> list[str]:
    """The column suffixes of the catalogue's languages: ``en``, ``zh_hans``."""
    return [code.replace("-", "_") for code, _name in settings.LANGUAGES]


# Where a search word may appear, each in every language.
SEARCHED = ("name", "description", "category__name", "hub__name")  # one row each


def search_equipment(qs: QuerySet[Equipment], text: str) -> QuerySet[Equipment]:
    """Equipment matching every word of ``text`` (case-insensitive) in its name,
    description, category, hub or a capability, in English or Chinese whatever the
    reader's language: "五轴" and "five-axis" find the same machines. Chinese is written
    without spaces, so a word is a substring, not a whole token. SQLite and PostgreSQL
    alike (``icontains``)."""
    languages = _languages()
    for word in text.split():
        match = Q()
        for field in SEARCHED:
            for lang in languages:
                match |= Q(**{f"{field}_{lang}__icontains": word})
        # Capabilities (many per machine) in a subquery: a filter across the relation would
        # join it once more per word (SQLite refuses past 64 tables; rows multiply).
        capability = Q(slug__icontains=word)  # "5-axis" as the catalogue's code says it
        for lang in languages:
            capability |= Q(**{f"name_{lang}__icontains": word})
        match |= Exists(Capability.objects.filter(capability, equipment=OuterRef("pk")))
        qs = qs.filter(match)
    return qs


def with_capabilities(qs: QuerySet[Equipment], slugs: list[str]) -> QuerySet[Equipment]:
    """Equipment having every capability in ``slugs``: one grouped subquery however many
    are asked (a join per capability stops SQLite at 64 tables)."""
    wanted = set(slugs)
    if not wanted:
        return qs
    having_all = (Equipment.capabilities.through.objects
                  .filter(capability__slug__in=wanted).values("equipment")
                  .annotate(n=Count("capability", distinct=True)).filter(n=len(wanted))
                  .values("equipment"))
    return qs.filter(pk__in=having_all)


def maintenance_windows_for_operator(
        organization: Organization | None) -> QuerySet[MaintenanceWindow]:
    return MaintenanceWindow.objects.select_related("equipment", "equipment__hub").filter(
        equipment__hub__operator=organization)


def bookings_cancelled_by_unavailability(*, equipment: Equipment, start: datetime,
                                         end: datetime, maintenance: bool = False) -> list:
    """The bookings that making ``equipment`` unavailable over [start, end) would cancel
    now: the very query the cancelling service runs (the bookings layer answers it), for
    the console's preview before it saves. With ``maintenance``, the refusal the service
    would give (a window over a trial in progress) is raised here already."""
    responses = equipment_unavailable_preview.send(sender=Equipment, equipment=equipment,
                                                   start=start, end=end,
                                                   refuse_in_progress=maintenance)
    return [booking for _receiver, answer in responses for booking in (answer or [])]


def bookings_cancelled_by_status(*, equipment: Equipment, new_status: str,
                                 now: datetime | None = None) -> list:
    """What changing ``equipment`` (as stored) to ``new_status`` would cancel: its bookings
    from now on when available equipment goes down or is retired; nothing otherwise."""
    from .services import unavailability_period  # the period is the service's to define

    if (equipment.status != Equipment.Status.AVAILABLE
            or new_status == Equipment.Status.AVAILABLE):
        return []
    start, end = unavailability_period(now or timezone.now())
    return bookings_cancelled_by_unavailability(equipment=equipment, start=start, end=end)


# --- the public catalogue ----------------------------------------------------------------

def equipment_photos(equipment: Equipment) -> QuerySet[EquipmentPhoto]:
    return equipment.photos.order_by("position", "pk")


def equipment_documents(equipment: Equipment) -> QuerySet[EquipmentDocument]:
    return equipment.documents.order_by("kind", "pk")


def photo(pk: int) -> EquipmentPhoto | None:
    return EquipmentPhoto.objects.filter(pk=pk).first()


def document(pk: int) -> EquipmentDocument | None:
    return EquipmentDocument.objects.filter(pk=pk).first()


def maintenance_now(equipment: Equipment, now: datetime | None = None
                    ) -> MaintenanceWindow | None:
    """The maintenance window the equipment is in at ``now``, if any."""
    now = now or timezone.now()
    return (MaintenanceWindow.objects.filter(equipment=equipment, start__lte=now, end__gt=now)
            .order_by("-end").first())


TERMS_CACHE_SECONDS = 300


def _all_terms() -> dict[str, dict[str, dict]]:
    """``{"spec": {key: {"en": …, "zh_hans": …, "unit": …}}, "metric": {…}}``, shared
    through the cache (one small query per model when it is cold); changing a term clears
    it (``forget_terms``)."""
    terms = cache.get(TERMS_CACHE_KEY)
    if terms is None:
        languages = _languages()
        terms = {}
        for kind, model in (("spec", SpecLabel), ("metric", Metric)):
            columns = ["key", "unit", *(f"label_{lang}" for lang in languages)]
            terms[kind] = {row["key"]: {"unit": row["unit"],
                                        **{lang: row[f"label_{lang}"] for lang in languages}}
                           for row in model.objects.values(*columns)}
        cache.set(TERMS_CACHE_KEY, terms, TERMS_CACHE_SECONDS)
    return terms


def forget_terms() -> None:
    cache.delete(TERMS_CACHE_KEY)


def term(kind: str, key: str) -> tuple[str, str] | None:
    """(label in the active language — English where it has none —, unit) of a spec key
    (``kind="spec"``) or a metric (``"metric"``); None for a key not in the dictionary."""
    found = _all_terms().get(kind, {}).get(key)
    if found is None:
        return None
    lang = (translation.get_language() or settings.LANGUAGE_CODE).lower().replace("-", "_")
    return (found.get(lang) or found.get("en") or key), found.get("unit") or ""
