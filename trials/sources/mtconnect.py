"""MTConnect: the collector's driver for an agent (polled during a booking) and "test
connection" (``probe``).

An MTConnect agent keeps the machine's observations in a ring buffer, numbered by a
sequence; a client reads ``/sample?from=<next>&count=<n>`` and continues at the
``nextSequence`` the Header gives. Three things can break that chain, and each is
handled here:

- the agent restarts: its ``instanceId`` changes and the sequences start again at 1 —
  the driver re-probes (the device model may have changed), records an
  ``agent_restart`` gap and continues from the new instance's ``firstSequence``;
- the buffer overflows (the collector was away longer than the buffer lasts): ``from``
  has fallen below ``firstSequence`` and the agent answers ``OUT_OF_RANGE`` — the
  driver records a ``buffer_overflow`` gap with the number of observations lost and
  continues from ``firstSequence``;
- the connection fails: nothing is lost while the buffer holds, so the driver keeps its
  cursor and tries again with backoff; only if the agent comes back with the cursor out
  of range is a gap recorded (as above).

The cursor (``instance_id``, ``next`` and ``last_ts``, the timestamp of the last
observation read) is written with each batch of readings, so a collector that restarts
resumes where the stored readings end and loses nothing still in the agent's buffer.

The agent's XML is parsed with defusedxml (no DTD, no entity expansion) from a body of
bounded size, read within timeouts. Error messages are our own words: what the agent
answered goes to the log, never to the operator or the SME.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NamedTuple
from urllib.parse import quote
from xml.etree.ElementTree import Element, ParseError  # noqa: S405 - types; parsed by defusedxml

import requests
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core import outbound
from equipment import sources
from trials.collector.base import Found, Gap, Reading, Sink, reconnect_delay, state_value, wait

from . import SourceError, TransientSourceError, max_bytes

logger = logging.getLogger(__name__)

SAMPLE_COUNT = 1000  # observations asked for per /sample; a full answer is polled again at once
CHUNK = 64 * 1024
STATE_METRIC = "state"

# MTConnect units (the standard's names) as the short units our measurements show.
UNITS = {
    "PERCENT": "%", "MILLIMETER": "mm", "MILLIMETER/SECOND": "mm/s",
    "MILLIMETER/SECOND^2": "mm/s²", "MILLIMETER/REVOLUTION": "mm/rev",
    "REVOLUTION/MINUTE": "rpm", "DEGREE": "°", "DEGREE/SECOND": "°/s", "CELSIUS": "°C",
    "SECOND": "s", "WATT": "W", "WATT_SECOND": "Ws", "AMPERE": "A", "VOLT": "V",
    "HERTZ": "Hz", "NEWTON": "N", "NEWTON_METER": "N·m", "PASCAL": "Pa",
    "KILOGRAM": "kg", "GRAM": "g", "LITER": "l", "LITER/SECOND": "l/s", "MICRO_RADIAN": "µrad",
    "MICROMETER": "µm", "OHM": "Ω", "COUNT": "", "VOLT_AMPERE": "VA", "JOULE": "J",
}

# What went wrong, in our words (the agent's answer is logged, never shown).
UNREACHABLE = _("Could not connect to the MTConnect agent.")
TIMED_OUT = _("The MTConnect agent did not answer in time.")
AGENT_FAILED = _("The MTConnect agent failed on its side (HTTP %(status)d).")
NOT_MTCONNECT = _("The address answered, but not with an MTConnect document.")
UNSAFE_XML = _("The agent's answer declares a DTD or XML entities; it was refused unread.")
TOO_LARGE = _("The agent's answer exceeds the limit of %(limit)d bytes.")
AGENT_REFUSED = _("The MTConnect agent refused the request.")
REFUSED = _("The agent's address is not allowed for outbound requests (outbound_refused).")
NO_DEVICE = _("The MTConnect agent has no device %(device)s.")
UNKNOWN_ITEMS = _("The agent's device has no DataItem %(ids)s (see the source's data_items "
                  "and state_item).")
NOTHING_TO_COLLECT = _("The agent's device has no numeric samples to collect; name the "
                       "DataItems in data_items.")
BAD_CONFIG = _("The MTConnect source's configuration is not valid; correct it on the "
               "equipment.")


class DataItem(NamedTuple):
    id: str
    name: str
    category: str
    units: str
    representation: str


class Observation(NamedTuple):
    seq: int
    item_id: str
    ts: datetime
    text: str


@dataclass(frozen=True)
class Streams:
    """An MTConnectStreams answer: its Header and its observations in sequence order."""

    instance_id: str
    first: int
    next: int
    last: int
    observations: list[Observation]

    @property
    def more(self) -> bool:
        """More observations are waiting in the agent's buffer than this answer carried."""
        return self.next <= self.last


class Refusal(Exception):
    """The agent answered an MTConnectError document (e.g. ``OUT_OF_RANGE``)."""

    def __init__(self, instance_id: str, codes: list[str]):
        super().__init__(", ".join(codes))
        self.instance_id, self.codes = instance_id, codes


# --- the agent's HTTP API --------------------------------------------------------------------

class Agent:
    """One equipment's agent, reached through the outbound guard: ``/probe``, ``/current``
    and ``/sample`` (under ``/<device>/`` when the source names a device)."""

    def __init__(self, equipment, config: dict, timeout: float):
        self.base = equipment.result_source_url.rstrip("/")
        self.device = config["device"]
        self.hub = equipment.hub  # loaded now: the driver's thread makes no queries
        self.equipment_id = equipment.pk
        self.timeout = timeout
        self.buffer_size = 0  # as the agent's last Header said; a count may not exceed it

    def url(self, request: str) -> str:
        if self.device:
            return f"{self.base}/{quote(self.device, safe='')}/{request}"
        return f"{self.base}/{request}"

    def probe(self) -> list[DataItem]:
        root = self._document("probe")
        if _local(root.tag) != "MTConnectDevices":
            raise self._unusable("probe", "not an MTConnectDevices document")
        devices = [el for el in root.iter() if _local(el.tag) == "Device"]
        if self.device:
            devices = [d for d in devices if self.device in (d.get("name"), d.get("uuid"))]
            if not devices:
                raise SourceError(NO_DEVICE % {"device": self.device})
        return [DataItem(el.get("id", ""), el.get("name", ""), el.get("category", ""),
                         el.get("units", ""), el.get("representation", "VALUE"))
                for device in devices for el in device.iter()
                if _local(el.tag) == "DataItem" and el.get("id")]

    def current(self) -> Streams:
        return self._streams(self._document("current"), "current")

    def sample(self, start: int | None) -> Streams:
        """From ``start``, or from the first observation the agent still has (None)."""
        count = min(SAMPLE_COUNT, self.buffer_size or SAMPLE_COUNT)
        params = {"count": count} if start is None else {"from": start, "count": count}
        return self._streams(self._document("sample", params), "sample")

    def _document(self, request: str, params: dict | None = None) -> Element:
        url = self.url(request)
        try:
            with outbound.request("GET", url, hub=self.hub, params=params,
                                  headers={"Accept": "application/xml, text/xml"},
                                  timeout=(min(self.timeout, 10), self.timeout),
                                  stream=True) as response:
                if response.status_code >= 500:
                    logger.warning("MTConnect agent %s (equipment %s) answered HTTP %d", url,
                                   self.equipment_id, response.status_code)
                    raise TransientSourceError(AGENT_FAILED % {"status": response.status_code})
                body = self._body(response, url)
        except outbound.OutboundRefused as exc:
            raise SourceError(str(REFUSED)) from exc
        except requests.Timeout as exc:
            logger.warning("MTConnect agent %s (equipment %s): %s", url, self.equipment_id, exc)
            raise TransientSourceError(str(TIMED_OUT)) from exc
        except requests.RequestException as exc:
            logger.warning("MTConnect agent %s (equipment %s): %s", url, self.equipment_id, exc)
            raise TransientSourceError(str(UNREACHABLE)) from exc
        root = self._parse(body, url)
        size = _header(root).get("bufferSize", "")
        if size.isdigit() and int(size) > 0:
            self.buffer_size = int(size)
        if _local(root.tag) == "MTConnectError":
            raise self._refusal(root, url)
        return root

    def _body(self, response: requests.Response, url: str) -> bytes:
        """The answer, read within the size limit and a total deadline (an agent that
        trickles an endless answer is cut off, not waited for)."""
        limit = max_bytes()
        deadline = time.monotonic() + self.timeout * 2
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > limit:
            raise self._too_large(url, limit)
        body = bytearray()
        for chunk in response.iter_content(CHUNK):
            body += chunk
            if len(body) > limit:
                raise self._too_large(url, limit)
            if time.monotonic() > deadline:
                logger.warning("MTConnect agent %s (equipment %s) too slow to answer", url,
                               self.equipment_id)
                raise TransientSourceError(str(TIMED_OUT))
        return bytes(body)

    def _too_large(self, url: str, limit: int) -> TransientSourceError:
        logger.warning("MTConnect agent %s (equipment %s): answer over %d bytes", url,
                       self.equipment_id, limit)
        return TransientSourceError(TOO_LARGE % {"limit": limit})

    def _parse(self, body: bytes, url: str) -> Element:
        try:
            return fromstring(body, forbid_dtd=True)
        except DefusedXmlException as exc:
            logger.warning("MTConnect agent %s (equipment %s) sent unsafe XML: %r", url,
                           self.equipment_id, exc)
            raise TransientSourceError(str(UNSAFE_XML)) from exc
        except ParseError as exc:
            raise self._unusable(url, f"not XML ({exc}): {body[:200]!r}") from exc

    def _streams(self, root: Element, request: str) -> Streams:
        if _local(root.tag) != "MTConnectStreams":
            raise self._unusable(request, "not an MTConnectStreams document")
        header = _header(root)
        try:
            return Streams(header["instanceId"], int(header["firstSequence"]),
                           int(header["nextSequence"]), int(header["lastSequence"]),
                           sorted(_observations(root)))
        except (KeyError, ValueError) as exc:
            raise self._unusable(request, f"Header without {exc}") from exc

    def _refusal(self, root: Element, url: str) -> Exception:
        codes = [el.get("errorCode", "") for el in root.iter() if _local(el.tag) == "Error"]
        texts = [(el.text or "")[:200] for el in root.iter() if _local(el.tag) == "Error"]
        logger.info("MTConnect agent %s (equipment %s) refused: %s %s", url, self.equipment_id,
                    codes, texts)
        if "NO_DEVICE" in codes:
            return SourceError(NO_DEVICE % {"device": self.device})
        return Refusal(_header(root).get("instanceId", ""), codes)

    def _unusable(self, where: str, detail: str) -> TransientSourceError:
        logger.warning("MTConnect agent %s (equipment %s): %s: %s", self.base,
                       self.equipment_id, where, detail)
        return TransientSourceError(str(NOT_MTCONNECT))


def _local(tag) -> str:
    """An element's name without its namespace (agents of 1.x and 2.x alike)."""
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _header(root: Element) -> dict[str, str]:
    for element in root:
        if _local(element.tag) == "Header":
            return dict(element.attrib)
    return {}


def _observations(root: Element) -> Iterator[Observation]:
    """Every Sample and Event (Conditions carry no values to collect)."""
    for container in root.iter():
        if _local(container.tag) not in ("Samples", "Events"):
            continue
        for element in container:
            try:
                yield Observation(int(element.get("sequence", "")), element.get("dataItemId", ""),
                                  parse_timestamp(element.get("timestamp", "")),
                                  (element.text or "").strip())
            except ValueError:
                logger.debug("MTConnect observation without sequence or timestamp skipped")


def parse_timestamp(text: str) -> datetime:
    """An agent's timestamp (ISO 8601, UTC with a Z; a bare one is UTC too), aware."""
    moment = datetime.fromisoformat(text)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def number(text: str | None) -> float | None:
    """A sample's value as a finite number; None for UNAVAILABLE, vectors, texts."""
    try:
        value = float(text or "")
    except ValueError:
        return None
    return value if math.isfinite(value) else None


# --- which DataItems become which metrics ----------------------------------------------------

def metric_name(text: str) -> str:
    return re.sub(r"[^a-z0-9_]", "_", text.strip().lower())[:sources.METRIC_MAX] or "item"


def display_unit(units: str) -> str:
    return UNITS.get(units, units[:sources.UNIT_MAX])


def metrics_for(items: list[DataItem], config: dict) -> dict[str, tuple[str, str]]:
    """DataItem id → (metric, unit): the configured ``data_items``, or else every numeric
    SAMPLE, named after the DataItem (its id where two share a name). The state item is
    checked to exist but is not a metric: it becomes the ``state`` readings."""
    by_id = {item.id: item for item in items}
    wanted, state_item = config["data_items"], config["state_item"]
    missing = sorted(set(wanted) - set(by_id) | ({state_item} - set(by_id) - {""}))
    if missing:
        raise SourceError(UNKNOWN_ITEMS % {"ids": ", ".join(missing)})
    if wanted:
        return {item_id: (target["metric"], target["unit"] or display_unit(by_id[item_id].units))
                for item_id, target in wanted.items()}
    metrics: dict[str, tuple[str, str]] = {}
    taken = {STATE_METRIC} if state_item else set()
    for item in items:
        if (item.category != "SAMPLE" or item.id == state_item
                or item.representation != "VALUE" or item.units.endswith("_3D")):
            continue
        name = metric_name(item.name or item.id)
        if name in taken:
            name = metric_name(f"{name}_{item.id}")
        taken.add(name)
        metrics[item.id] = (name, display_unit(item.units))
    if not metrics and not state_item:
        raise SourceError(str(NOTHING_TO_COLLECT))
    return metrics


def _config(equipment) -> dict:
    config, errors = sources.clean_config("mtconnect", equipment.result_source_config or {})
    if errors:
        logger.warning("MTConnect source of equipment %s: invalid configuration %s",
                       equipment.pk, errors)
        raise SourceError(str(BAD_CONFIG))
    return config


# --- the collector's driver ------------------------------------------------------------------

class Driver:
    """Polls one equipment's agent while the collector holds it (trials.collector.base)."""

    def __init__(self, equipment, sink: Sink, stop: threading.Event):
        self.equipment = equipment  # with its hub loaded (the collector selects it)
        self.sink = sink
        self.stop = stop
        self.equipment_id = equipment.pk
        self.config: dict = {}
        self.agent: Agent | None = None
        self.metrics: dict[str, tuple[str, str]] | None = None  # None: probe first
        self.instance_id = ""
        self.next = 0
        self.last_ts: datetime | None = None  # the time of the last observation read
        self.polled: datetime | None = None  # the last answer received
        self.asked: datetime | None = None  # when the last /sample was asked for

    def run(self) -> None:
        # A configuration that is not valid raises SourceError here, in the driver's own
        # thread (the collector logs it and tries later), not in the supervisor's.
        self.config = _config(self.equipment)
        self.agent = Agent(self.equipment, self.config, settings.TRIAL_SOURCE_TIMEOUT)
        poll_seconds = self.config["poll_ms"] / 1000
        attempt = 0
        while not self.stop.is_set():
            try:
                if self.metrics is None:
                    self._connect()
                more = self._poll()
            except TransientSourceError as exc:
                attempt += 1
                delay = reconnect_delay(attempt)
                logger.warning("MTConnect source of equipment %s: %s (retry in %.0f s)",
                               self.equipment_id, exc, delay)
                if wait(self.stop, delay):
                    return
                continue
            attempt = 0
            if not more and wait(self.stop, poll_seconds):
                return

    def _connect(self) -> None:
        """Probe the device, then take up the stored cursor (or start from now)."""
        self.metrics = metrics_for(self.agent.probe(), self.config)
        if not self.instance_id:
            self._take_cursor(self.sink.state())

    def _take_cursor(self, stored: dict) -> None:
        """Continue where the stored readings end. A cursor of another agent instance is
        taken up as it is: the first poll sees the instance change and records the
        restart. Without one, collection starts now, with the state item's current
        value (the machine may already be running)."""
        if stored.get("instance_id") and isinstance(stored.get("next"), int):
            self.instance_id, self.next = str(stored["instance_id"]), stored["next"]
            self.last_ts = parse_timestamp(stored["last_ts"]) if stored.get("last_ts") else None
            return
        current = self.agent.current()
        self.instance_id, self.next = current.instance_id, current.next
        self.polled = timezone.now()
        readings = [self._state_reading(o) for o in current.observations
                    if o.item_id == self.config["state_item"]]
        self.sink.write([r for r in readings if r], state=self._cursor())

    def _poll(self) -> bool:
        """One /sample from the cursor; True if more is waiting."""
        self.asked = timezone.now()
        try:
            streams = self.agent.sample(self.next)
        except Refusal as refusal:
            if "OUT_OF_RANGE" not in refusal.codes and refusal.instance_id == self.instance_id:
                raise TransientSourceError(str(AGENT_REFUSED)) from refusal
            return self._recover()
        if streams.instance_id != self.instance_id or streams.first > self.next:
            return self._recover()
        self._deliver(streams)
        return streams.more

    def _recover(self) -> bool:
        """The cursor no longer fits the agent (restart or overflow): record the gap and
        continue from the first observation the agent has."""
        try:
            streams = self.agent.sample(None)
        except Refusal as refusal:
            raise TransientSourceError(str(AGENT_REFUSED)) from refusal
        resumed = streams.observations[0].ts if streams.observations else timezone.now()
        if streams.instance_id != self.instance_id:
            self.metrics = metrics_for(self.agent.probe(), self.config)
            self._gap("agent_restart", resumed)
        elif self.next < streams.first:
            self._gap("buffer_overflow", resumed,
                      f"{streams.first - self.next} observations lost "
                      f"(sequences {self.next} to {streams.first - 1})")
        else:  # the cursor is ahead of the agent: read its buffer again (stored once)
            logger.warning("MTConnect source of equipment %s: cursor %d beyond the agent's %d",
                           self.equipment_id, self.next, streams.next)
        self.instance_id, self.next = streams.instance_id, streams.first
        self._deliver(streams)
        return streams.more

    def _gap(self, reason: str, end: datetime, detail: str = "") -> None:
        start = self.last_ts or self.polled or self.sink.last_held() or self.sink.held_since()
        logger.warning("MTConnect source of equipment %s: %s from %s to %s %s",
                       self.equipment_id, reason, start, end, detail)
        self.sink.gap(Gap(min(start, end), end, reason, detail))

    def _deliver(self, streams: Streams) -> None:
        self.polled = timezone.now()
        readings = [r for r in map(self._reading, streams.observations) if r]
        if streams.observations:
            self.last_ts = streams.observations[-1].ts
        if streams.next != self.next or readings:
            self.next = streams.next
            self.sink.write(readings, state=self._cursor())
        if not streams.more and self.asked is not None:
            # Everything the agent had when asked has been handed over.
            self.sink.caught_up(self.asked)

    def _reading(self, observation: Observation) -> Reading | None:
        if observation.item_id == self.config["state_item"]:
            return self._state_reading(observation)
        target = self.metrics.get(observation.item_id)
        value = number(observation.text) if target else None
        if value is None:
            return None
        return Reading(observation.ts, target[0], value, target[1], observation.seq)

    def _state_reading(self, observation: Observation) -> Reading | None:
        value = state_value(observation.text)
        if value is None:
            return None
        return Reading(observation.ts, STATE_METRIC, value, "", observation.seq)

    def _cursor(self) -> dict:
        return {"instance_id": self.instance_id, "next": self.next,
                "last_ts": self.last_ts.isoformat() if self.last_ts else None}


# --- "test connection" -----------------------------------------------------------------------

def probe(equipment, timeout: float = 10.0) -> list[Found]:
    """Connect, read the device model and the current values: the metrics the collector
    would store, each with its latest value (None while UNAVAILABLE). Raises
    ``SourceError`` in our words."""
    config = _config(equipment)
    agent = Agent(equipment, config, timeout)
    try:
        metrics = metrics_for(agent.probe(), config)
        current = agent.current()
    except Refusal as refusal:
        raise SourceError(str(AGENT_REFUSED)) from refusal
    latest = {o.item_id: o.text for o in current.observations}
    found = [Found(metric, unit, number(latest.get(item_id)))
             for item_id, (metric, unit) in metrics.items()]
    if config["state_item"]:
        found.append(Found(STATE_METRIC, "", state_value(latest.get(config["state_item"], ""))))
    return found
