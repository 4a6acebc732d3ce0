"""The money set-up, every write of it (DESIGN.md, "Money"): a hub's rate cards (kept by its
operator, or platform staff), innovation-voucher programmes and the grants made under them,
and declared affiliations (entered by platform staff from the issuer's notices and the
firms' declarations). The console, the admin and the demo seed call these; none of them
holds a rule of its own.

Quotes and the voucher split are ``pricing.services``'; this module never prices anything.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone, translation
from django.utils.translation import gettext

from core.errors import ValidationFailed, Violation, valid_id
from equipment.errors import NOT_HUB_OPERATOR
from equipment.models import Category, Equipment, Hub
from organizations.errors import NOT_OPERATOR
from organizations.models import Organization

from . import setup_errors as errors
from .models import (
    Affiliation,
    EquipmentRate,
    PricedItem,
    QuoteLine,
    RateCard,
    Unit,
    VoucherGrant,
    VoucherProgramme,
)
from .money import FEN

MONEY_LIMIT = Decimal("1000000000000")  # 14 digits, 2 of them decimals
RATE_FIELDS = ("hourly_rate", "assisted_hourly_surcharge", "setup_fee")
ITEM_FIELDS = ("code", "name_en", "name_zh_hans", "kind", "unit", "unit_price")
REASON_MAX_LENGTH = 2000


# --- who may act ---------------------------------------------------------------------------

def _is_staff(user) -> bool:
    return bool(getattr(user, "is_active", False) and getattr(user, "is_staff", False))


def _require_staff(user) -> None:
    if not _is_staff(user):
        raise errors.NOT_PLATFORM_STAFF.error()


def _require_hub_operator(hub: Hub, operator: Organization | None, by_user) -> None:
    """``operator`` runs ``hub``; with no organisation, ``by_user`` is platform staff."""
    if operator is None:
        _require_staff(by_user)
        return
    if operator.kind != Organization.Kind.FLAGSHIP:
        raise NOT_OPERATOR.error()
    if hub.operator_id != operator.pk:
        raise NOT_HUB_OPERATOR.error()


# --- parsing helpers -----------------------------------------------------------------------

def _money(value, field: str, violations: list[Violation], *, allow_none: bool = False
           ) -> Decimal | None:
    """``value`` as yuan to the fen (Decimal, int or a decimal string; never a float), or
    a violation at ``field``."""
    if value is None or value == "":
        if allow_none:
            return None
        violations.append(errors.PRICE_INVALID.violation(field))
        return None
    if isinstance(value, float):
        violations.append(errors.PRICE_INVALID.violation(field))
        return None
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        violations.append(errors.PRICE_INVALID.violation(field))
        return None
    # The limit before quantize: quantizing 1e309 raises instead of answering.
    if not amount.is_finite() or abs(amount) >= MONEY_LIMIT or amount != amount.quantize(FEN):
        violations.append(errors.PRICE_INVALID.violation(field))
        return None
    if amount < 0:
        violations.append(errors.PRICE_NEGATIVE.violation(field))
        return None
    return amount.quantize(FEN)


def _raise(violations: list[Violation]) -> None:
    if violations:
        raise ValidationFailed(violations)


def _django_violations(exc: DjangoValidationError, prefix: str = "",
                       rename: Mapping[str, str] | None = None) -> list[Violation]:
    rename = rename or {}
    failed = ValidationFailed.from_django(exc)
    return [Violation(v.code, prefix + rename.get(v.field, v.field), v.message)
            for v in failed.violations]


# --- rate cards ----------------------------------------------------------------------------

def _rate_rows(hub: Hub, rates: Iterable[Mapping[str, Any]],
               violations: list[Violation]) -> list[dict]:
    """The card's equipment rates, checked: equipment at the hub, once each, prices to the
    fen and not negative. Violations at ``rates.<i>.<field>``."""
    on_hub = {e.pk: e for e in Equipment.objects.filter(hub=hub)}
    seen: set[int] = set()
    rows = []
    for i, rate in enumerate(rates):
        prefix = f"rates.{i}."
        equipment = rate.get("equipment")
        pk = valid_id(getattr(equipment, "pk", equipment))
        if pk not in on_hub:
            violations.append(errors.RATE_EQUIPMENT_NOT_ON_HUB.violation(prefix + "equipment"))
            continue
        if pk in seen:
            violations.append(errors.RATE_EQUIPMENT_TWICE.violation(prefix + "equipment"))
            continue
        seen.add(pk)
        row = {"equipment": on_hub[pk]}
        for name in RATE_FIELDS:
            default = None if name == "hourly_rate" else Decimal("0.00")
            value = rate.get(name, default)
            row[name] = _money(value, prefix + name, violations)
        rows.append(row)
    return rows


def _item_rows(items: Iterable[Mapping[str, Any]], violations: list[Violation]) -> list[dict]:
    """The card's priced items, checked: a code once per card, names in both languages, a
    kind and unit the model knows, a price to the fen. Violations at ``items.<i>.<field>``."""
    codes: set[str] = set()
    rows = []
    for i, item in enumerate(items):
        prefix = f"items.{i}."
        code = str(item.get("code") or "").strip()
        name_en = str(item.get("name_en") or "").strip()
        name_zh = str(item.get("name_zh_hans") or "").strip()
        kind = item.get("kind") or PricedItem.Kind.CONSUMABLE
        unit = item.get("unit") or Unit.PIECE
        if not code:
            violations.append(errors.ITEM_CODE_REQUIRED.violation(prefix + "code"))
        elif code in codes:
            violations.append(errors.ITEM_CODE_TWICE.violation(prefix + "code", code=code))
        codes.add(code)
        if not name_en:
            violations.append(errors.ITEM_NAME_REQUIRED.violation(prefix + "name_en"))
        if not name_zh:
            violations.append(errors.ITEM_NAME_REQUIRED.violation(prefix + "name_zh_hans"))
        price = _money(item.get("unit_price"), prefix + "unit_price", violations)
        row = {"code": code, "name_en": name_en, "name_zh_hans": name_zh, "kind": kind,
               "unit": unit, "unit_price": price}
        probe = PricedItem(**row)
        try:  # the model's own field rules (slug characters, lengths, choices)
            probe.clean_fields(exclude=["card", "unit_price"])
        except DjangoValidationError as exc:
            known = {v.field for v in violations}
            violations.extend(v for v in _django_violations(exc, prefix)
                              if v.field not in known)
        rows.append(row)
    return rows


def _card_dates(name: str, valid_from, valid_until, violations: list[Violation]) -> None:
    if not (name or "").strip():
        violations.append(errors.RATE_CARD_NAME_REQUIRED.violation())
    if not isinstance(valid_from, date):
        violations.append(errors.RATE_CARD_FROM_REQUIRED.violation())
    elif valid_until is not None and valid_until < valid_from:
        violations.append(errors.RATE_CARD_UNTIL_BEFORE_FROM.violation())


def _day_taken(hub: Hub, valid_from: date, exclude_pk: int | None) -> bool:
    qs = RateCard.objects.filter(hub=hub, valid_from=valid_from)
    if exclude_pk:
        qs = qs.exclude(pk=exclude_pk)
    return qs.exists()


def _write_items(card: RateCard, rows: list[dict], violations: list[Violation]) -> None:
    """Items by code: changed in place, added, or removed when no quote names them (an item
    on a quote stays: the quote's line points at it)."""
    existing = {item.code: item for item in card.items.all()}
    wanted = {row["code"] for row in rows}
    gone = [item for code, item in existing.items() if code not in wanted]
    used = set(QuoteLine.objects.filter(item__in=gone).values_list("item_id", flat=True))
    for item in gone:
        if item.pk in used:
            violations.append(errors.ITEM_IN_USE.violation("items", code=item.code))
    _raise(violations)
    PricedItem.objects.filter(pk__in=[item.pk for item in gone]).delete()
    for row in rows:
        item = existing.get(row["code"])
        if item is None:
            PricedItem.objects.create(card=card, **row)
        elif any(getattr(item, k) != v for k, v in row.items()):
            for k, v in row.items():
                setattr(item, k, v)
            item.save()


def _write_rates(card: RateCard, rows: list[dict]) -> None:
    existing = {rate.equipment_id: rate for rate in card.rates.all()}
    wanted = {row["equipment"].pk for row in rows}
    EquipmentRate.objects.filter(card=card).exclude(equipment_id__in=wanted).delete()
    for row in rows:
        rate = existing.get(row["equipment"].pk)
        values = {k: row[k] for k in RATE_FIELDS}
        if rate is None:
            EquipmentRate.objects.create(card=card, equipment=row["equipment"], **values)
        elif any(getattr(rate, k) != v for k, v in values.items()):
            for k, v in values.items():
                setattr(rate, k, v)
            rate.save(update_fields=list(values))


def save_rate_card(*, hub: Hub, operator: Organization | None, name: str, valid_from: date,
                   valid_until: date | None = None, rates: Iterable[Mapping[str, Any]] = (),
                   items: Iterable[Mapping[str, Any]] = (), by_user=None,
                   card: RateCard | None = None, name_zh_hans: str = "",
                   today: date | None = None) -> RateCard:
    """Create a rate card for ``hub`` (``card`` None) or replace ``card``'s contents: its
    name (``name`` in English, ``name_zh_hans`` in Chinese; no Chinese name: the default
    one, "<hub>自<date>起价目"), validity, equipment rates (equipment at the hub, once
    each; prices not negative, to the fen) and priced items (by code; an item already on a
    quote cannot be removed). A card's start moved to another day must not be before
    ``today`` (the hub's today by default): a price change starts today or later.

    ``operator`` runs the hub; with ``operator=None``, ``by_user`` is platform staff. Every
    broken rule is reported at once (``rates.<i>.<field>``, ``items.<i>.<field>``) and
    nothing changes. Booked quotes keep their own lines: a change here prices only what is
    quoted from now on."""
    if card is not None:
        hub = card.hub
    _require_hub_operator(hub, operator, by_user)
    rates, items = list(rates), list(items)
    violations: list[Violation] = []
    _card_dates(name, valid_from, valid_until, violations)
    rate_rows = _rate_rows(hub, rates, violations)
    item_rows = _item_rows(items, violations)
    if isinstance(valid_from, date) and _day_taken(hub, valid_from, card.pk if card else None):
        violations.append(errors.RATE_CARD_DAY_TAKEN.violation(day=valid_from.isoformat()))
    if card is not None and isinstance(valid_from, date) and valid_from != card.valid_from:
        _not_past(hub, valid_from, today, violations)
    _raise(violations)
    names = {"name_en": (name or "").strip(),
             "name_zh_hans": (name_zh_hans or "").strip()
             or default_names(hub, valid_from)["zh_hans"]}
    try:
        with transaction.atomic():
            if card is None:
                card = RateCard.objects.create(hub=hub, **names,
                                               valid_from=valid_from,
                                               valid_until=valid_until, created_by=by_user)
            else:
                card = RateCard.objects.select_for_update().get(pk=card.pk)
                card.name_en, card.name_zh_hans = names["name_en"], names["name_zh_hans"]
                card.valid_from, card.valid_until = valid_from, valid_until
                card.save(update_fields=["name_en", "name_zh_hans", "valid_from",
                                         "valid_until"])
            _write_rates(card, rate_rows)
            _write_items(card, item_rows, violations)
    except IntegrityError:  # a card from that day was made meanwhile
        raise errors.RATE_CARD_DAY_TAKEN.error(day=valid_from.isoformat()) from None
    return card


def copy_rate_card(*, hub: Hub, operator: Organization | None, valid_from: date,
                   name: str = "", card: RateCard | None = None, by_user=None,
                   name_zh_hans: str = "", today: date | None = None) -> RateCard:
    """Start a new card of ``hub`` from ``valid_from`` (a price change, today or later in
    the hub's time zone): a copy of ``card`` (None: the hub's latest card starting before
    that day; with none, the equipment's own hourly rates and no items), to be edited.
    The cards it follows end the day before; it ends the day before a later card starts,
    if there is one. No name given: "<hub> prices from <date>" in English and Chinese."""
    if card is not None:
        hub = card.hub
    _require_hub_operator(hub, operator, by_user)
    if not isinstance(valid_from, date):
        raise errors.RATE_CARD_FROM_REQUIRED.error()
    if card is None:
        card = (RateCard.objects.filter(hub=hub, valid_from__lt=valid_from)
                .order_by("-valid_from").first())
    if card is not None and valid_from <= card.valid_from:
        raise errors.RATE_CARD_COPY_NOT_LATER.error(day=card.valid_from.isoformat())
    if _day_taken(hub, valid_from, None):
        raise errors.RATE_CARD_DAY_TAKEN.error(day=valid_from.isoformat())
    past: list[Violation] = []
    _not_past(hub, valid_from, today, past)
    _raise(past)
    if card is not None:
        rates = [{"equipment": r.equipment_id, **{k: getattr(r, k) for k in RATE_FIELDS}}
                 for r in card.rates.all()]
        items = [{k: getattr(i, k) for k in ITEM_FIELDS} for i in card.items.all()]
    else:
        rates = [{"equipment": e.pk, "hourly_rate": e.hourly_rate}
                 for e in Equipment.objects.filter(hub=hub)
                 .exclude(status=Equipment.Status.RETIRED).order_by("pk")]
        items = []
    later = (RateCard.objects.filter(hub=hub, valid_from__gt=valid_from)
             .order_by("valid_from").first())
    until = later.valid_from - timedelta(days=1) if later else None
    with transaction.atomic():
        # The cards running on that day end the day before.
        for running in (RateCard.objects.select_for_update()
                        .filter(hub=hub, valid_from__lt=valid_from)
                        .filter(Q(valid_until__isnull=True) | Q(valid_until__gte=valid_from))):
            running.valid_until = valid_from - timedelta(days=1)
            running.save(update_fields=["valid_until"])
        defaults = default_names(hub, valid_from)
        return save_rate_card(hub=hub, operator=operator, by_user=by_user,
                              name=(name or "").strip() or defaults["en"],
                              name_zh_hans=(name_zh_hans or "").strip()
                              or ("" if (name or "").strip() else defaults["zh_hans"]),
                              valid_from=valid_from, valid_until=until, rates=rates,
                              items=items)


def _not_past(hub: Hub, valid_from: date, today: date | None,
              violations: list[Violation]) -> None:
    today = today or timezone.now().astimezone(ZoneInfo(hub.timezone)).date()
    if valid_from < today:
        violations.append(errors.RATE_CARD_FROM_PAST.violation(today=today.isoformat()))


def default_names(hub: Hub, valid_from) -> dict[str, str]:
    """A card's default name in each language, from the hub's name in that language:
    "<hub> prices from <date>" / "<hub>自<date>起价目"."""
    day = valid_from.isoformat() if isinstance(valid_from, date) else ""
    names = {}
    for code, language in (("en", "en"), ("zh_hans", "zh-hans")):
        hub_name = getattr(hub, f"name_{code}", None) or hub.name_en or hub.name
        with translation.override(language):
            names[code] = gettext("%(hub)s prices from %(day)s") % {"hub": hub_name,
                                                                    "day": day}
    return names


# --- voucher programmes --------------------------------------------------------------------

PROGRAMME_FIELDS = ("name_en", "name_zh_hans", "issuer_en", "issuer_zh_hans", "reference",
                    "subsidy_share", "cap_per_sme_year", "cap_per_use", "valid_from",
                    "valid_until", "claimant")


def save_programme(*, data: Mapping[str, Any], providers: Iterable[Hub] | None = None,
                   categories: Iterable[Category] | None = None, by_user,
                   programme: VoucherProgramme | None = None) -> VoucherProgramme:
    """Create a voucher programme (``programme`` None) or change one, platform staff only:
    names and issuer in both languages, a reference of its own, a subsidy share in (0, 1],
    caps not negative, validity (covering the grants already made under it), accredited
    provider hubs and eligible categories (None given: left as they are; empty: every
    category). A programme's changes apply to bookings priced from now on."""
    _require_staff(by_user)
    data = {k: v for k, v in data.items() if k in PROGRAMME_FIELDS}
    violations: list[Violation] = []
    target = programme or VoucherProgramme()
    for key, value in data.items():
        setattr(target, key, value)
    share = target.subsidy_share
    if share is not None:
        try:
            in_range = Decimal(0) < Decimal(str(share)) <= Decimal(1)  # NaN compares: raises
        except (InvalidOperation, ValueError):
            in_range = False
        if not in_range:
            violations.append(errors.PROGRAMME_SHARE_RANGE.violation())
    for field in ("cap_per_sme_year", "cap_per_use"):
        value = getattr(target, field)
        if value is not None:
            setattr(target, field, _money(value, field, violations))
    if (target.valid_from and target.valid_until
            and target.valid_until < target.valid_from):
        violations.append(errors.PROGRAMME_UNTIL_BEFORE_FROM.violation())
    if target.reference and (VoucherProgramme.objects.filter(reference=target.reference)
                             .exclude(pk=target.pk).exists()):
        violations.append(errors.PROGRAMME_REFERENCE_TAKEN.violation())
    if target.pk and target.valid_from and target.valid_until:
        grants = VoucherGrant.objects.filter(programme=target)
        outside = grants.filter(Q(valid_from__lt=target.valid_from)
                                | Q(valid_until__gt=target.valid_until))
        if outside.exists():
            first = min(g.valid_from for g in grants)
            last = max(g.valid_until for g in grants)
            violations.append(errors.PROGRAMME_GRANTS_OUTSIDE.violation(
                first=first.isoformat(), last=last.isoformat()))
    try:
        target.full_clean(exclude=[f for f in ("subsidy_share",) if any(
            v.field == f for v in violations)], validate_unique=False,
            validate_constraints=False)
    except DjangoValidationError as exc:
        known = {v.field for v in violations}
        violations.extend(v for v in _django_violations(exc) if v.field not in known)
    provider_list = list(providers) if providers is not None else None
    if provider_list is not None and any(not isinstance(h, Hub) for h in provider_list):
        violations.append(errors.PROVIDER_NOT_A_HUB.violation())
    _raise(violations)
    with transaction.atomic():
        target.save()
        if provider_list is not None:
            target.providers.set(provider_list)
        if categories is not None:
            target.categories.set(list(categories))
    return target


# --- voucher grants ------------------------------------------------------------------------

def grant_voucher(*, programme_id: int, organization: Organization, amount, valid_from: date,
                  valid_until: date, reference_number: str, by_user) -> VoucherGrant:
    """Record a voucher granted to an SME under a programme (platform staff, from the
    issuer's notice): an amount above zero, a period within the programme's validity, a
    reference number once per programme."""
    _require_staff(by_user)
    programme = VoucherProgramme.objects.filter(pk=valid_id(programme_id) or 0).first()
    if programme is None:
        raise errors.PROGRAMME_NOT_FOUND.error()
    violations: list[Violation] = []
    if organization is None or organization.kind != Organization.Kind.SME:
        violations.append(errors.GRANT_SME_ONLY.violation())
    value = _money(amount, "amount", violations)
    if value is not None and value <= 0:
        violations.append(errors.GRANT_AMOUNT_POSITIVE.violation())
    reference_number = (reference_number or "").strip()
    if not reference_number:
        violations.append(errors.GRANT_REFERENCE_REQUIRED.violation())
    elif VoucherGrant.objects.filter(programme=programme,
                                     reference_number=reference_number).exists():
        violations.append(errors.GRANT_REFERENCE_TAKEN.violation())
    if (not isinstance(valid_from, date) or not isinstance(valid_until, date)
            or valid_until < valid_from):
        violations.append(errors.GRANT_UNTIL_BEFORE_FROM.violation())
    elif valid_from < programme.valid_from or valid_until > programme.valid_until:
        violations.append(errors.GRANT_OUTSIDE_PROGRAMME.violation(
            first=programme.valid_from.isoformat(), last=programme.valid_until.isoformat()))
    _raise(violations)
    try:
        with transaction.atomic():
            return VoucherGrant.objects.create(
                programme=programme, organization=organization, amount=value,
                valid_from=valid_from, valid_until=valid_until,
                reference_number=reference_number, granted_by=by_user)
    except IntegrityError:  # the same reference entered twice at once
        raise errors.GRANT_REFERENCE_TAKEN.error() from None


def revoke_grant(*, grant_id: int, reason: str, by_user, now: datetime | None = None
                 ) -> VoucherGrant:
    """Revoke a grant (platform staff, with the reason): what it has not paid can no longer
    be used; what it paid for bookings already priced stays used (those bookings keep their
    split; a cancelled one still returns its share, which nobody can then use)."""
    _require_staff(by_user)
    reason = (reason or "").strip()
    if not reason:
        raise errors.REVOCATION_REASON_REQUIRED.error()
    reason = reason[:REASON_MAX_LENGTH]
    with transaction.atomic():
        grant = (VoucherGrant.objects.select_for_update()
                 .filter(pk=valid_id(grant_id) or 0).first())
        if grant is None:
            raise errors.GRANT_NOT_FOUND.error()
        if grant.revoked_at is not None:
            raise errors.GRANT_ALREADY_REVOKED.error()
        grant.revoked_at = now or timezone.now()
        grant.revoked_reason = reason
        grant.save(update_fields=["revoked_at", "revoked_reason"])
    return grant


# --- affiliations --------------------------------------------------------------------------

def _current_between(a: Organization, b: Organization) -> QuerySet[Affiliation]:
    return Affiliation.objects.filter(
        Q(organization=a, affiliate=b) | Q(organization=b, affiliate=a), ended_at__isnull=True)


def declare_affiliation(*, organization: Organization, affiliate: Organization, kind: str,
                        note: str = "", by_user) -> Affiliation:
    """Record a declared tie (ownership or control) between two organisations (platform
    staff): from now on the SME of the two cannot use a voucher at the other's hubs. One
    current declaration per pair, in either direction."""
    _require_staff(by_user)
    violations: list[Violation] = []
    if kind not in Affiliation.Kind.values:
        violations.append(errors.AFFILIATION_KIND.violation())
    if organization is None or affiliate is None or organization.pk == affiliate.pk:
        violations.append(errors.AFFILIATION_SELF.violation())
    elif _current_between(organization, affiliate).exists():
        violations.append(errors.AFFILIATION_EXISTS.violation())
    _raise(violations)
    try:
        with transaction.atomic():
            return Affiliation.objects.create(organization=organization, affiliate=affiliate,
                                              kind=kind, note=(note or "").strip(),
                                              declared_by=by_user)
    except IntegrityError:
        raise errors.AFFILIATION_EXISTS.error() from None


def end_affiliation(*, affiliation_id: int, by_user, now: datetime | None = None
                    ) -> Affiliation:
    """End a declared affiliation (platform staff): vouchers may be used between the two
    from now on; bookings priced before keep their split."""
    _require_staff(by_user)
    with transaction.atomic():
        affiliation = (Affiliation.objects.select_for_update()
                       .filter(pk=valid_id(affiliation_id) or 0).first())
        if affiliation is None:
            raise errors.AFFILIATION_NOT_FOUND.error()
        if affiliation.ended_at is not None:
            raise errors.AFFILIATION_ALREADY_ENDED.error()
        affiliation.ended_at = now or timezone.now()
        affiliation.save(update_fields=["ended_at"])
    return affiliation


# --- reads for the set-up pages (tenancy: the acting operator) -----------------------------

def rate_cards_of(operator: Organization | None) -> QuerySet[RateCard]:
    """The rate cards of the hubs ``operator`` runs (anyone else: none)."""
    if operator is None or operator.kind != Organization.Kind.FLAGSHIP:
        return RateCard.objects.none()
    return (RateCard.objects.filter(hub__operator=operator).select_related("hub")
            .order_by("hub__slug", "-valid_from"))


def rate_card_of(operator: Organization | None, card_id) -> RateCard:
    """One of ``operator``'s rate cards; another operator's is not found."""
    pk = valid_id(card_id)
    card = rate_cards_of(operator).filter(pk=pk).first() if pk else None
    if card is None:
        raise errors.RATE_CARD_NOT_FOUND.error()
    return card


def programmes_accrediting(operator: Organization | None) -> QuerySet[VoucherProgramme]:
    """The voucher programmes that accredit at least one of ``operator``'s hubs."""
    if operator is None or operator.kind != Organization.Kind.FLAGSHIP:
        return VoucherProgramme.objects.none()
    return (VoucherProgramme.objects.filter(providers__operator=operator).distinct()
            .prefetch_related("providers", "categories").order_by("-valid_from", "reference"))
