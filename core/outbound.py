"""The one guard for every outbound request (invariant 8).

Result sources, operators' webhook endpoints, universities' agreement endpoints — and
anything added later — reach out only through this module:

- ``check_url(url, hub=…, field=…)`` when a URL is saved: a 400 with a field error
  (``OutboundRefused``, violation code ``outbound_refused``) when the scheme is not allowed
  or the host is, or resolves to, an address that is not allowed;
- ``request(method, url, hub=…, …)`` when sending: the same check on a fresh resolution,
  then the connection is pinned to the addresses just checked (no second DNS lookup, so
  no DNS rebinding); the Host header, TLS SNI and certificate verification stay on the
  host name. Redirects are never followed: a 3xx is the caller's answer to report.

Allowed: ``https`` always, ``http`` only with ``OUTBOUND_ALLOW_HTTP``. An address is
refused when it is not globally routable — loopback, private, link-local, shared
(100.64/10), reserved, multicast, unspecified — also when it hides inside IPv6
(IPv4-mapped, IPv4-compatible, 6to4, Teredo, NAT64). Odd spellings of an address
(``2130706433``, ``0x7f000001``, ``0177.0.0.1``, ``127.1``) are judged by what they
resolve to, which is also what the connection uses. Unless the address lies in an
allowed network: the deployment's ``OUTBOUND_ALLOWED_NETWORKS`` or, for one hub's
destinations only, the networks platform staff allowed for that hub in the admin
console (``Hub.outbound_allowed_networks``).

Refusals name no address: the detail (host, addresses) goes to this module's logger,
for staff.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext, gettext_lazy
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.util.connection import create_connection

from .errors import ValidationFailed, Violation

if TYPE_CHECKING:
    from equipment.models import Hub

logger = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

CODE = "outbound_refused"
REFUSED = gettext_lazy("This address may not be called from Testbed: it is, or resolves to, "
                       "a loopback, private, link-local or otherwise internal address. "
                       "Platform staff can allow a hub's own networks.")
BAD_SCHEME = gettext_lazy("Only https:// addresses may be called from Testbed.")
BAD_SCHEME_HTTP = gettext_lazy("Only http:// and https:// addresses may be called from "
                               "Testbed.")
BAD_SCHEME_OTHER = gettext_lazy("Only %(schemes)s addresses may be called here from Testbed.")
NO_HOST = gettext_lazy("The address has no valid host or port.")

SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT (RFC 6598)
NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


class OutboundRefused(ValidationFailed):
    """The destination is not allowed; a field error under the field that named it."""

    def __init__(self, message: str, *, field: str = "url", reason: str = ""):
        super().__init__([Violation(CODE, field, str(message))], str(message))
        self.reason = reason  # for the log only: never shown to tenants


class UnresolvableHost(requests.ConnectionError):
    """The host name does not resolve right now (a network trouble: retry later)."""


# --- networks ---------------------------------------------------------------------------

def parse_networks(entries: Iterable[str]) -> list[IPNetwork]:
    """CIDRs (``10.20.0.0/16``, ``fd00::/8``; a bare address is a /32 or /128). Raises
    ValueError naming the entries that are not networks or have host bits set."""
    networks, bad = [], []
    for entry in (e.strip() for e in entries):
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=True))
        except ValueError:
            bad.append(entry)
    if bad:
        raise ValueError(", ".join(bad))
    return networks


def split_networks(text: str) -> list[str]:
    """One network per line (commas also separate)."""
    return [part for line in (text or "").splitlines() for part in line.split(",")]


def validate_network_list(text: str) -> None:
    """Django validator for a text field holding one CIDR per line."""
    try:
        parse_networks(split_networks(text))
    except ValueError as exc:
        raise ValidationError(
            gettext_lazy("Not a network in CIDR notation (e.g. 10.20.0.0/16, with no host "
                         "bits set): %(entries)s"),
            code="invalid_network", params={"entries": str(exc)}) from None


@lru_cache(maxsize=64)
def _networks(entries: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    networks = []
    for entry in entries:
        try:
            networks += parse_networks([entry])
        except ValueError:  # a row written past the validator: allows nothing
            logger.error("Outbound allowance %r is not a network; ignored", entry)
    return tuple(networks)


def allowed_networks(hub: Hub | None = None) -> tuple[IPNetwork, ...]:
    """The deployment-wide allowance, plus the hub's own when one is given."""
    entries = tuple(settings.OUTBOUND_ALLOWED_NETWORKS)
    if hub is not None:
        entries += tuple(split_networks(hub.outbound_allowed_networks))
    return _networks(entries)


# --- addresses --------------------------------------------------------------------------

def embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, compatible, 6to4, Teredo, NAT64)."""
    if ip.version != 6:
        return None
    if ip.ipv4_mapped:
        return ip.ipv4_mapped
    if ip.sixtofour:
        return ip.sixtofour
    if ip.teredo:
        return ip.teredo[1]
    if any(ip in net for net in NAT64) or (int(ip) >> 32 == 0 and int(ip) > 1):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)  # NAT64 or IPv4-compatible ::a.b.c.d
    return None


def is_public(ip: IPAddress) -> bool:
    """Globally routable unicast, judged on the IPv4 address inside IPv6 where there is one."""
    inner = embedded_ipv4(ip)
    if inner is not None:
        if not is_public(inner):
            return False
        if int(ip) >> 32 in (0, 0xFFFF):  # ::a.b.c.d, ::ffff:a.b.c.d: the IPv4 address is all
            return True
    return (ip.is_global and not ip.is_multicast and not ip.is_reserved
            and not ip.is_unspecified and not (ip.version == 4 and ip in SHARED))


def address_allowed(ip: IPAddress, networks: Iterable[IPNetwork]) -> bool:
    candidates = [ip] + ([inner] if (inner := embedded_ipv4(ip)) else [])
    for net in networks:
        if any(c.version == net.version and c in net for c in candidates):
            return True
    return is_public(ip)


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None


def _resolve(host: str, port: int) -> list[IPAddress]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: list[IPAddress] = []
    for *_, sockaddr in infos:
        ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if ip not in seen:
            seen.append(ip)
    return seen


# --- the check --------------------------------------------------------------------------

@dataclass(frozen=True)
class Destination:
    """A checked destination: connect to ``addresses`` (in order) and nothing else."""

    scheme: str
    host: str
    port: int
    addresses: tuple[IPAddress, ...]


# Every scheme the guard knows, with its default port. The plain-text ones (no TLS) are
# allowed only with OUTBOUND_ALLOW_HTTP; OPC UA secures its messages itself (the source's
# security policy), so opc.tcp is not counted as plain text.
PORTS = {"https": 443, "http": 80, "mqtts": 8883, "mqtt": 1883, "opc.tcp": 4840}
PLAIN_TEXT = frozenset({"http", "mqtt"})
WEB = ("https", "http")


def allowed_schemes(schemes: Iterable[str] = WEB) -> list[str]:
    """Of ``schemes``, those this deployment allows."""
    return [s for s in schemes if s not in PLAIN_TEXT or settings.OUTBOUND_ALLOW_HTTP]


def _split(url: str, field: str, schemes: tuple[str, ...] = WEB) -> tuple[str, str, int]:
    allowed = allowed_schemes(schemes)
    try:
        parts = urlsplit(url or "")
        scheme, host = parts.scheme.lower(), parts.hostname
        port = parts.port or PORTS.get(scheme, 0)
    except ValueError:
        raise OutboundRefused(gettext(NO_HOST), field=field, reason="unparsable") from None
    if scheme not in allowed:
        if schemes == WEB:
            message = gettext(BAD_SCHEME_HTTP if settings.OUTBOUND_ALLOW_HTTP else BAD_SCHEME)
        else:
            message = gettext(BAD_SCHEME_OTHER) % {
                "schemes": ", ".join(f"{s}://" for s in allowed)}
        raise OutboundRefused(message, field=field, reason=f"scheme {scheme!r}")
    if not host:
        raise OutboundRefused(gettext(NO_HOST), field=field, reason="no host")
    return scheme, host, port


def _refuse_unless_allowed(addresses: list[IPAddress], *, host: str, hub: Hub | None,
                           field: str) -> None:
    networks = allowed_networks(hub)
    refused = [ip for ip in addresses if not address_allowed(ip, networks)]
    if refused:
        reason = f"{host} -> {', '.join(map(str, refused))}"
        logger.warning("Outbound request refused: %s (hub %s)", reason,
                       getattr(hub, "slug", None))
        raise OutboundRefused(gettext(REFUSED), field=field, reason=reason)


def check_url(url: str, *, hub: Hub | None = None, field: str = "url",
              schemes: tuple[str, ...] = WEB) -> None:
    """For saving a URL: raise ``OutboundRefused`` if it may not be called. A host name
    that does not resolve right now passes (it is checked again, resolved, when sending);
    every address it resolves to must be allowed. ``schemes``: what the caller speaks
    (``PORTS``), by default the web's."""
    scheme, host, port = _split(url, field, schemes)
    literal = _literal(host)
    if literal is not None:
        addresses = [literal]
    else:
        try:
            addresses = _resolve(host, port)
        except (socket.gaierror, UnicodeError, OSError) as exc:
            logger.info("Outbound URL saved with a host that does not resolve now: %s (%s)",
                        host, exc)
            return
    _refuse_unless_allowed(addresses, host=host, hub=hub, field=field)


def destination(url: str, *, hub: Hub | None = None, field: str = "url",
                schemes: tuple[str, ...] = WEB) -> Destination:
    """For sending: resolve the host and check every address; raise ``OutboundRefused``
    or ``UnresolvableHost``. A client that is not HTTP (MQTT, OPC UA) connects to
    ``addresses[0]`` and port, never to the name again."""
    scheme, host, port = _split(url, field, schemes)
    literal = _literal(host)
    try:
        addresses = [literal] if literal is not None else _resolve(host, port)
    except (socket.gaierror, UnicodeError, OSError) as exc:
        logger.warning("Outbound request: %s does not resolve (%s)", host, exc)
        raise UnresolvableHost(f"{host} does not resolve") from None
    if not addresses:
        raise UnresolvableHost(f"{host} does not resolve")
    _refuse_unless_allowed(addresses, host=host, hub=hub, field=field)
    return Destination(scheme, host.lower(), port, tuple(addresses))


# --- the pinned transport ---------------------------------------------------------------

class _PinnedMixin:
    """Connects to the checked addresses instead of resolving ``host`` again; ``host``
    itself (Host header, SNI, certificate verification) stays the name."""

    def __init__(self, *args, pinned: tuple[IPAddress, ...], **kwargs):
        self._pinned = pinned
        super().__init__(*args, **kwargs)

    def _new_conn(self) -> socket.socket:
        error: OSError | None = None
        for ip in self._pinned:  # numeric: create_connection does no DNS lookup for them
            try:
                return create_connection((str(ip), self.port), self.timeout,
                                         source_address=self.source_address,
                                         socket_options=self.socket_options)
            except TimeoutError as exc:
                raise ConnectTimeoutError(self, f"Connection to {self.host} timed out. "
                                                f"(connect timeout={self.timeout})") from exc
            except OSError as exc:
                error = exc
        raise NewConnectionError(self, f"Failed to establish a new connection: {error}")


class _PinnedHTTPConnection(_PinnedMixin, HTTPConnection):
    pass


class _PinnedHTTPSConnection(_PinnedMixin, HTTPSConnection):
    pass


class _PinnedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _PinnedHTTPConnection


class _PinnedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _PinnedHTTPSConnection


class PinnedAdapter(HTTPAdapter):
    """A requests transport that reaches one checked destination only, with no proxy."""

    def __init__(self, target: Destination):
        self.target = target
        self._pools: list[HTTPConnectionPool] = []
        super().__init__(max_retries=0)

    def get_connection_with_tls_context(self, request, verify, proxies=None, cert=None):
        host_params, pool_kwargs = self.build_connection_pool_key_attributes(
            request, verify, cert)
        scheme, host = host_params["scheme"], (host_params["host"] or "").lower()
        if (scheme, host.strip("[]"), host_params["port"] or self.target.port) != (
                self.target.scheme, self.target.host.strip("[]"), self.target.port):
            raise requests.ConnectionError("request does not match the checked destination")
        pool_cls = _PinnedHTTPSPool if scheme == "https" else _PinnedHTTPPool
        if scheme != "https":
            pool_kwargs = {}
        pool = pool_cls(host=host_params["host"], port=self.target.port,
                        pinned=self.target.addresses, **pool_kwargs)
        self._pools.append(pool)
        return pool

    def close(self) -> None:
        for pool in self._pools:
            pool.close()
        self._pools.clear()
        super().close()


@contextmanager
def request(method: str, url: str, *, hub: Hub | None = None,
            **kwargs) -> Iterator[requests.Response]:
    """``with outbound.request("GET", url, hub=hub, timeout=…) as response:`` — one
    request to a checked, pinned destination; redirects are not followed (a 3xx comes
    back as the answer). Raises ``OutboundRefused``, ``UnresolvableHost`` (a
    ``requests.ConnectionError``) or any ``requests`` error."""
    kwargs.pop("allow_redirects", None)
    target = destination(url, hub=hub)
    with requests.Session() as session:
        session.trust_env = False  # no proxy from the environment: we connect ourselves
        adapter = PinnedAdapter(target)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        kwargs.setdefault("verify", settings.OUTBOUND_CA_BUNDLE or True)
        with session.request(method, url, allow_redirects=False, **kwargs) as response:
            yield response
