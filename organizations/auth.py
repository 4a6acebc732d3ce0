"""API authentication: ``Authorization: Bearer <key>`` acts as the key's organisation."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from allauth.account.adapter import DefaultAccountAdapter
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django.db import connection, transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions, throttling

from core import db

from .models import Organization, OrganizationAPIKey

logger = logging.getLogger(__name__)

SUSPENDED_CODE = "organization_suspended"
SUSPENDED_MESSAGE = _("Your organisation is suspended by the platform staff; its API keys are "
                      "refused until it is reinstated. Contact the platform staff.")

# last_used_at is written at most this often per key, so a busy key costs no extra write.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class OrganizationPrincipal:
    """``request.user`` for an API call: the organisation the key belongs to.

    An API key carries no person; ``user`` is None and bookings made through it name
    their trial lead explicitly.
    """

    organization: Organization
    key_prefix: str
    user: None = None
    is_authenticated: bool = True
    is_anonymous: bool = False
    is_staff: bool = False
    is_superuser: bool = False

    @property
    def pk(self) -> str:
        return f"key:{self.key_prefix}"

    def __str__(self) -> str:
        return f"API key {self.key_prefix} of {self.organization.slug}"


@cache
def _key_sql(vendor: str) -> str:
    return (f"SELECT {db.columns(OrganizationAPIKey, 'k')}, {db.columns(Organization, 'o')} "  # noqa: S608 - constants and model metadata only
            f"FROM {db.table(OrganizationAPIKey)} k JOIN {db.table(Organization)} o "
            f"ON {db.column(Organization, 'id', 'o')} = "
            f"{db.column(OrganizationAPIKey, 'organization', 'k')} "
            f"WHERE {db.column(OrganizationAPIKey, 'prefix', 'k')} = %s")


def _key_with_organization(prefix: str) -> OrganizationAPIKey | None:
    """The key with this prefix and its organisation, in one plain query (every API call
    runs it)."""
    with db.cursor() as cursor:
        cursor.execute(_key_sql(connection.vendor), [prefix])
        row = cursor.fetchone()
    if row is None:
        return None
    api_key = db.instance(OrganizationAPIKey, row)
    api_key.organization = db.instance(Organization, row, db.width(OrganizationAPIKey))
    return api_key


# --- the key cache ------------------------------------------------------------------------
#
# Every API call looks its key up by prefix. The row (the key's hash, revoked flag, expiry,
# and its organisation with its suspension) is kept in the Django cache (Redis in
# production, shared by every web process; local memory in the embedded demo) under
# ``apikey:<prefix>``, and every call checks it as it checks a fresh row: the secret's hash
# (the library's SHA-512, a few microseconds: cheaper than anything cached could be),
# revoked, expired, suspended. What is cached is the database's row, never a verdict: a
# wrong secret finds the row and is refused by its hash, an unknown prefix is not cached.
#
# Invalidation: any save or delete of a key or of an organisation (revocation, suspension,
# reinstatement, verification, an admin edit) replaces the entry with a HOLD marker, when
# saved and again when its transaction commits. While the marker lives, lookups read the
# database and cache nothing, so a request that read the row before the change committed
# cannot put it back; the next call after the commit sees the change. Entries are added
# with ``cache.add`` (never over a marker). KEY_CACHE_TTL bounds an entry's life anyway
# (e.g. a cache that was unreachable when a key was revoked and came back with old data).
KEY_CACHE_TTL = 300
KEY_CACHE_HOLD = 60  # longer than any request that read the row before the change
HOLD = "hold"

_last_use_written: dict[int, datetime] = {}


def _cache_key(prefix: str) -> str:
    return f"apikey:{prefix}"


@cache
def _attnames(model) -> tuple[str, ...]:
    return tuple(f.attname for f in model._meta.concrete_fields)


@cache
def _entry_format() -> str:
    """The fields an entry holds, in order: an entry written by code with other fields (a
    deploy adding a column) is not read as this code's."""
    return "|".join(_attnames(OrganizationAPIKey) + _attnames(Organization))


def _values(obj) -> tuple:
    return tuple(getattr(obj, name) for name in _attnames(type(obj)))


def _from_values(model, values: tuple):
    return model.from_db(connection.alias, _attnames(model), values)


def _lookup(prefix: str) -> OrganizationAPIKey | None:
    """The key with this prefix and its organisation: from the cache, else the database
    (and then cached, unless a change is in flight)."""
    cache, name = caches["default"], _cache_key(prefix)
    try:
        entry = cache.get(name)
    except Exception:  # noqa: BLE001 - cache unreachable: the database answers
        logger.warning("API key cache unavailable; key read from the database.", exc_info=True)
        entry = HOLD
    if isinstance(entry, tuple) and entry[0] == _entry_format():
        api_key = _from_values(OrganizationAPIKey, entry[1])
        api_key.organization = _from_values(Organization, entry[2])
        return api_key
    api_key = _key_with_organization(prefix)
    if api_key is not None and entry is None:
        try:
            cache.add(name, (_entry_format(), _values(api_key), _values(api_key.organization)),
                      KEY_CACHE_TTL)
        except Exception:  # noqa: BLE001 - not cached this time
            logger.warning("API key cache unavailable; key not cached.", exc_info=True)
    return api_key


def forget_api_keys(prefixes) -> None:
    """Changes to these keys (or their organisation) are being written: hold their cache
    entries now and again once the transaction commits (see above)."""
    prefixes = list(prefixes)
    names = [_cache_key(prefix) for prefix in prefixes]
    if not names:
        return

    def hold() -> None:
        try:
            caches["default"].set_many(dict.fromkeys(names, HOLD), KEY_CACHE_HOLD)
        except Exception:  # noqa: BLE001 - KEY_CACHE_TTL bounds what a lost cache kept
            logger.error("API key cache unavailable; entries of %s not held.", prefixes,
                         exc_info=True)

    hold()
    transaction.on_commit(hold)


@receiver(post_save, sender=OrganizationAPIKey, dispatch_uid="organizations.key_saved")
@receiver(post_delete, sender=OrganizationAPIKey, dispatch_uid="organizations.key_deleted")
def _key_changed(sender, instance, created=False, **kwargs):
    if not created:
        forget_api_keys([instance.prefix])


@receiver(post_save, sender=Organization, dispatch_uid="organizations.org_saved")
@receiver(post_delete, sender=Organization, dispatch_uid="organizations.org_deleted")
def _organization_changed(sender, instance, created=False, **kwargs):
    # An organisation's keys carry it (its suspension, kind, verification) in their entries.
    if not created:
        forget_api_keys(OrganizationAPIKey.objects.filter(organization_id=instance.pk)
                        .values_list("prefix", flat=True))


def _record_use(api_key: OrganizationAPIKey, now: datetime) -> None:
    """Write the key's last use at most once per LAST_USED_RESOLUTION. The cached row keeps
    the value it was read with, so this process also remembers what it wrote (only to skip
    writes: the database's column is the record)."""
    last = max(filter(None, (api_key.last_used_at, _last_use_written.get(api_key.pk))),
               default=None)
    if last is None or now - last > LAST_USED_RESOLUTION:
        _last_use_written[api_key.pk] = now
        OrganizationAPIKey.objects.filter(pk=api_key.pk).update(last_used_at=now)


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        scheme, _space, key = header.partition(" ")
        if scheme.lower() != self.keyword.lower() or not key.strip():
            raise exceptions.AuthenticationFailed(_("Use 'Authorization: Bearer <api key>'."))
        key = key.strip()
        prefix, dot, _secret = key.partition(".")
        if not dot:
            raise exceptions.AuthenticationFailed(_("Invalid API key."))
        api_key = _lookup(prefix)
        # is_valid compares the hash in constant time; revoked and expired keys fail too.
        if api_key is None or api_key.revoked or api_key.has_expired or not api_key.is_valid(key):
            raise exceptions.AuthenticationFailed(_("Invalid, revoked or expired API key."))
        if api_key.organization.suspended_at is not None:
            # A valid key of a suspended organisation: say so (403), rather than calling the
            # key invalid, so its administrators know whom to ask.
            raise exceptions.PermissionDenied(SUSPENDED_MESSAGE, code=SUSPENDED_CODE)
        _record_use(api_key, timezone.now())
        return OrganizationPrincipal(api_key.organization, api_key.prefix), api_key

    def authenticate_header(self, request):
        return f'{self.keyword} realm="api"'


def _count(cache, key: str, ttl: int) -> int:
    """Add one to the counter ``key`` (created with a ``ttl`` if new); the new count. On
    Redis one round trip (INCR and EXPIRE pipelined); Django's ``incr`` asks EXISTS first."""
    if isinstance(cache, RedisCache):
        client = cache._cache.get_client(write=True)  # kept by core.backends.redis
        full_key = cache.make_and_validate_key(key)
        pipe = client.pipeline(transaction=False)
        pipe.incr(full_key)
        pipe.expire(full_key, ttl)
        return pipe.execute()[0]
    try:
        return cache.incr(key)
    except ValueError:  # first request of this window
        cache.add(key, 0, ttl)
        return cache.incr(key)


class ApiKeyRateThrottle(throttling.SimpleRateThrottle):
    """Throttle per API key (per client address for anonymous requests), as a fixed-window
    counter in the cache (Redis in production): one INCR per request, where DRF's default
    keeps and re-pickles the whole list of recent request times (thousands of entries at
    API rates). If the cache is unreachable the request is let through rather than failed:
    throttling protects the service, it must not take it down."""

    scope = "api_key"

    @property
    def cache(self):
        # The backend itself (DRF's default is Django's proxy of it), so that ``_count``
        # can tell Redis apart.
        return caches["default"]

    def allow_request(self, request, view):
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        now = self.timer()
        window = int(now // self.duration)
        key = f"{self.key}:{window}"
        try:
            count = _count(self.cache, key, self.duration + 5)
        except Exception:  # noqa: BLE001 - cache backend down: fail open, loudly
            logger.warning("Rate-limit cache unavailable; request let through.", exc_info=True)
            return True
        self._wait = (window + 1) * self.duration - now
        return count <= self.num_requests

    def wait(self):
        return getattr(self, "_wait", None)

    def get_cache_key(self, request, view):
        principal = request.user
        ident = (
            principal.key_prefix
            if isinstance(principal, OrganizationPrincipal)
            else self.get_ident(request)
        )
        return self.cache_format % {"scope": self.scope, "ident": ident}


def user_display(user) -> str:
    """How allauth names a person on its pages and in its e-mails (ACCOUNT_USER_DISPLAY):
    people log in with their e-mail address, so that is their name; the internal username
    is never shown."""
    return getattr(user, "email", "") or ""


def landing_page(request) -> str | None:
    """Where a member lands after logging in when no ``next`` says otherwise: hub
    operators on the console's "today", universities on their datasets; SMEs (None) on
    ``LOGIN_REDIRECT_URL``, the catalogue."""
    from django.urls import reverse

    from .portal import organization_of

    organization = organization_of(request)
    kind = organization.kind if organization is not None else None
    return {Organization.Kind.FLAGSHIP: reverse("console:home"),
            Organization.Kind.UNIVERSITY: reverse("console:datasets")}.get(kind)


class AccountAdapter(DefaultAccountAdapter):
    """allauth's adapter (ACCOUNT_ADAPTER): each kind of member lands on its own pages."""

    def get_login_redirect_url(self, request):
        return landing_page(request) or super().get_login_redirect_url(request)
