"""Talking to an OPC UA server: the source's configuration read from the equipment, the
connection (through the outbound guard, with the source's security and login), readings
made from DataValues, and failures turned into the errors (our words) callers report."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit, urlunsplit

from asyncua import Client, ua
from asyncua.client.ua_client import UaClientState
from asyncua.crypto import security_policies, uacrypto
from django.utils.translation import gettext_lazy

from core import outbound
from equipment import sources
from trials.collector.base import Reading, state_value
from trials.collector.selectors import STATE_METRIC

from .. import SourceError, TransientSourceError
from .certificates import client_certificate

logger = logging.getLogger(__name__)

# asyncua reads the server's state this often, allowing as long for the answer: a link
# that died silently shows within twice that (a closed one at once). Shorter, and a busy
# server's slow answer passes for a dead link, which costs a reconnection and readings.
WATCHDOG_SECONDS = 3.0
SESSION_TIMEOUT_MS = 60_000  # a collector that died frees its session on the server soon
REQUEST_TIMEOUT = 5.0
CLOSE_TIMEOUT = 3.0

# Status codes that mean the server refused who we are or how we talk, not a failure.
SECURITY_CODES = ("BadSecurity", "BadCertificate", "BadIdentityToken", "BadUserAccess",
                  "BadNoValidCertificates", "BadApplicationSignatureInvalid",
                  "BadUserSignatureInvalid")
MISSING_CODES = ("BadNodeIdUnknown", "BadNodeIdInvalid")

# What operators and SMEs read (tests compare with these).
BAD_CONFIG = gettext_lazy("The OPC UA source's configuration is not valid; correct it on "
                          "the equipment.")
BAD_NODE_ID = gettext_lazy('%(node)s is not an OPC UA node id (such as "ns=2;s=Spindle.Load").')
REFUSED = gettext_lazy("The OPC UA server's address is not allowed for outbound connections "
                       "(outbound_refused).")
CANNOT_CONNECT = gettext_lazy("Could not connect to the OPC UA server.")
SECURITY_REJECTED = gettext_lazy(
    "The OPC UA server refused the connection: check the security policy and mode, the "
    "login, and that the server trusts Testbed's client certificate.")
NO_ENDPOINT = gettext_lazy("The OPC UA server offers no endpoint with security policy "
                           "%(policy)s and mode %(mode)s.")
CERTIFICATE_MISMATCH = gettext_lazy(
    "The OPC UA server presented a certificate with SHA-256 fingerprint %(presented)s, not "
    "the one this source trusts (security.server_certificate); nothing was sent to it. If "
    "the machine's certificate was renewed, enter the new fingerprint; if not, something "
    "between Testbed and the machine is answering in its place.")
NODE_MISSING = gettext_lazy("The OPC UA server has no node %(node)s.")
NOT_HISTORIZED = gettext_lazy("The OPC UA server keeps no history for node %(node)s.")
REQUEST_FAILED = gettext_lazy("The OPC UA server could not complete the request.")
NOT_UNDERSTOOD = gettext_lazy("The OPC UA server's answer could not be understood.")


# --- configuration --------------------------------------------------------------------

@dataclass(frozen=True)
class NodeSpec:
    """A configured node and the metric it feeds (the state node feeds "state")."""

    node_id: str
    metric: str
    unit: str = ""
    is_state: bool = False


@dataclass(frozen=True)
class Source:
    """Everything a connection needs, read from the equipment before any event loop."""

    equipment_id: int
    url: str
    hub: object
    nodes: tuple[NodeSpec, ...]
    sampling_ms: int
    mode: str
    policy: str
    security_mode: str
    username: str
    password: str
    server_certificate: str  # the pinned SHA-256 fingerprint (AB:CD:…), or ""

    @classmethod
    def of(cls, equipment) -> Source:
        """Raises SourceError when the stored configuration is not a valid one."""
        config, errors = sources.clean_config("opcua", equipment.result_source_config or {})
        if errors or not equipment.result_source_url:
            logger.error("OPC UA source of equipment %s is misconfigured: %s",
                         equipment.pk, errors or "no URL")
            raise SourceError(str(BAD_CONFIG))
        nodes = [NodeSpec(n["node_id"], n["metric"], n["unit"]) for n in config["nodes"]]
        if config["state_node"]:
            nodes.append(NodeSpec(config["state_node"], STATE_METRIC, "", is_state=True))
        for spec in nodes:
            try:
                ua.NodeId.from_string(spec.node_id)
            except (ValueError, ua.UaError):
                raise SourceError(BAD_NODE_ID % {"node": spec.node_id}) from None
        security = config["security"]
        return cls(equipment_id=equipment.pk, url=equipment.result_source_url,
                   hub=equipment.hub, nodes=tuple(nodes), sampling_ms=config["sampling_ms"],
                   mode=config["mode"], policy=security["policy"],
                   security_mode=security["mode"], username=config["username"],
                   password=equipment.result_source_secret or "",
                   server_certificate=security.get("server_certificate", ""))

    def node_ids(self) -> list[str]:
        """Each configured node once, in order (a node may feed two metrics)."""
        return list(dict.fromkeys(spec.node_id for spec in self.nodes))


# --- values ---------------------------------------------------------------------------

def _number(value) -> float | None:
    """A value as a float (booleans 1/0); None for what is not a finite number."""
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None


def value_of(spec: NodeSpec, value) -> float | None:
    return state_value(value) if spec.is_state else _number(value)


def reading(spec: NodeSpec, dv: ua.DataValue) -> Reading | None:
    """The reading a DataValue gives, if it holds a usable value."""
    if dv.StatusCode is not None and not dv.StatusCode.is_good():
        return None
    number = value_of(spec, dv.Value.Value if dv.Value is not None else None)
    if number is None:
        return None
    ts = dv.SourceTimestamp or dv.ServerTimestamp or datetime.now(UTC)
    return Reading(ts if ts.tzinfo else ts.replace(tzinfo=UTC), spec.metric, number,
                   spec.unit)


def code_name(exc: ua.UaStatusCodeError) -> str:
    return ua.StatusCode(exc.code).name


# --- connecting -----------------------------------------------------------------------

def _pinned_url(url: str, dest: outbound.Destination) -> str:
    """``url`` with its host replaced by the address the guard checked (and no login)."""
    host = str(dest.addresses[0])
    if ":" in host:
        host = f"[{host}]"
    parts = urlsplit(url)
    return urlunsplit(("opc.tcp", f"{host}:{dest.port}", parts.path, parts.query, ""))


POLICIES = {"None": security_policies.SecurityPolicyNone,
            "Basic256Sha256": security_policies.SecurityPolicyBasic256Sha256}
MODES = {"None": ua.MessageSecurityMode.None_, "Sign": ua.MessageSecurityMode.Sign,
         "SignAndEncrypt": ua.MessageSecurityMode.SignAndEncrypt}


async def _endpoint(client: Client, source: Source) -> ua.EndpointDescription:
    """The server's endpoint with the source's security policy and mode (asked first, so
    that a mismatch is named as such)."""
    mode, uri = MODES[source.security_mode], POLICIES[source.policy].URI
    for endpoint in await client.connect_and_get_server_endpoints():
        if endpoint.SecurityMode == mode and endpoint.SecurityPolicyUri == uri:
            return endpoint
    raise SourceError(NO_ENDPOINT % {"policy": source.policy, "mode": source.security_mode})


def _leaf_fingerprint(der: bytes) -> str:
    """The fingerprint of the server's own certificate: the first of a chain, as asyncua
    takes it for the secure channel (so what is pinned is what is trusted)."""
    return sources.certificate_fingerprint(uacrypto.der_from_x509(uacrypto.x509_from_der(der)))


def presented_certificate(client: Client, source: Source) -> str:
    """The SHA-256 fingerprint of the certificate the server of a secured connection
    presented (for the operator to pin); "" on an unsecured one (whatever the server
    sent there was never checked)."""
    der = client.security_policy.peer_certificate
    return _leaf_fingerprint(der) if der and source.policy != "None" else ""


async def _secure(client: Client, source: Source, endpoint: ua.EndpointDescription) -> None:
    """Basic256Sha256 with Sign or SignAndEncrypt, to the certificate the server's
    endpoint presents — which must be the one the source pins, if it pins one: checked
    before the secure channel opens, so neither the login nor a request reaches a server
    answering in the machine's place."""
    presented = _leaf_fingerprint(endpoint.ServerCertificate or b"")
    if source.server_certificate and presented != source.server_certificate:
        logger.warning("OPC UA server of equipment %s presented certificate %s, pinned %s",
                       source.equipment_id, presented, source.server_certificate)
        raise SourceError(CERTIFICATE_MISMATCH % {"presented": presented})
    own = client_certificate()
    client.application_uri = own.application_uri
    await client.set_security(POLICIES[source.policy], str(own.cert), str(own.key),
                              server_certificate=endpoint.ServerCertificate,
                              mode=endpoint.SecurityMode)


async def connect(source: Source, timeout: float) -> Client:
    """A connected client (session activated), or SourceError / TransientSourceError /
    an asyncua or socket exception for ``translated``."""
    try:
        dest = outbound.destination(source.url, hub=source.hub, field="result_source_url",
                                    schemes=sources.SCHEMES["opcua"])
    except outbound.OutboundRefused as exc:
        logger.warning("OPC UA source of equipment %s refused: %s", source.equipment_id,
                       exc.reason)
        raise SourceError(str(REFUSED)) from exc
    client = Client(_pinned_url(source.url, dest), timeout=min(timeout, REQUEST_TIMEOUT),
                    watchdog_intervall=WATCHDOG_SECONDS)
    client.name = client.description = "Testbed collector"
    client.session_timeout = SESSION_TIMEOUT_MS
    if source.username:
        client.set_user(source.username)
        client.set_password(source.password)
    async with asyncio.timeout(timeout):
        endpoint = await _endpoint(client, source)
        if source.policy != "None":
            await _secure(client, source, endpoint)
        await client.connect()
    return client


async def close(client: Client) -> None:
    """Close the session if the link still stands; in any case stop the client's tasks."""
    if client.state is UaClientState.CONNECTED:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.disconnect(), CLOSE_TIMEOUT)
        return
    client.uaclient.request_disconnect()
    with contextlib.suppress(Exception):  # no request goes out on a closed link
        await asyncio.wait_for(client.close_session(), CLOSE_TIMEOUT)
    client.uaclient.disconnect_socket()


def translated(exc: BaseException) -> SourceError:
    """An exception met while talking to the server, as the error the caller reports."""
    if isinstance(exc, SourceError):
        return exc
    if isinstance(exc, ua.UaStatusCodeError):
        name = code_name(exc)
        logger.warning("OPC UA server answered %s", name)
        if name.startswith(SECURITY_CODES):
            return SourceError(str(SECURITY_REJECTED))
        return TransientSourceError(str(REQUEST_FAILED))
    if isinstance(exc, OSError | TimeoutError | ConnectionError | EOFError):
        logger.warning("OPC UA connection failed: %r", exc)
        return TransientSourceError(str(CANNOT_CONNECT))
    logger.exception("OPC UA request failed", exc_info=exc)
    return SourceError(str(NOT_UNDERSTOOD))


def run(coro) -> object:
    """Run a coroutine in a fresh event loop, its failures in our words."""
    try:
        return asyncio.run(coro)
    except Exception as exc:
        raise translated(exc) from exc


async def check_nodes(client: Client, node_ids: list[str],
                      attribute: ua.AttributeIds) -> list[ua.DataValue]:
    """Read ``attribute`` of every node; SourceError naming the first one that is missing."""
    results = await client.read_attributes([client.get_node(n) for n in node_ids], attribute)
    for node_id, dv in zip(node_ids, results, strict=True):
        if dv.StatusCode is not None and dv.StatusCode.name.startswith(MISSING_CODES):
            raise SourceError(NODE_MISSING % {"node": node_id})
    return results
