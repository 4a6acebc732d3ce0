"""Result-source configuration: what each kind needs, checked once for every door (the
model's ``clean``, so the API, the admin and the services all get the same answers).

The kinds and their fields are the contract in DESIGN.md ("Equipment data sources"). The
URL is ``Equipment.result_source_url``; the one secret (the HTTP bearer secret, or the
OPC UA / MQTT password) is ``result_source_secret`` and never shown; everything else is
``result_source_config`` (a JSON object), normalised here: unknown keys are refused,
defaults are filled in, so a collector reads a complete configuration.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from core import outbound

# Which URL schemes each kind speaks (the outbound guard checks them and the address).
SCHEMES: dict[str, tuple[str, ...]] = {
    "http": outbound.WEB, "mtconnect": outbound.WEB, "opcua": ("opc.tcp",),
    "mqtt": ("mqtts", "mqtt"),
}
# Kinds the collector serves while a booking runs (push, or polled during the booking).
COLLECTED = frozenset({"mtconnect", "opcua", "mqtt"})
# Kinds with a username/password (the password is the source's secret).
WITH_LOGIN = frozenset({"opcua", "mqtt"})

METRIC_MAX, UNIT_MAX, NODES_MAX = 64, 16, 500
SAMPLING_MS = (10, 3_600_000)
POLL_MS = (100, 60_000)
OPCUA_POLICIES = ("None", "Basic256Sha256")
OPCUA_MODES = ("None", "Sign", "SignAndEncrypt")
MQTT_FORMATS = ("json",)  # "sparkplug_b": not yet supported (README, "Data sources")
TEXT_MAX = 200
_TOPIC_LEVEL = re.compile(r"^[^#+]*$")
_SHA256_HEX = re.compile(r"^[0-9A-Fa-f]{64}$")

Errors = dict[str, list[str]]


class _Checker:
    def __init__(self, config: dict, prefix: str = "result_source_config"):
        self.config = config
        self.prefix = prefix
        self.errors: Errors = {}
        self.out: dict[str, Any] = {}

    def fail(self, key: str, message: str) -> None:
        self.errors.setdefault(f"{self.prefix}.{key}", []).append(message)

    def text(self, key: str, *, required=False, default: str = "", limit=TEXT_MAX) -> str:
        value = self.config.get(key, default)
        if value is None:
            value = default
        if not isinstance(value, str):
            self.fail(key, _("Must be a text."))
            return default
        value = value.strip()
        if "\x00" in value:
            self.fail(key, _("May not contain NUL (0x00) characters."))
        elif len(value) > limit:
            self.fail(key, _("At most %(max)d characters.") % {"max": limit})
        elif required and not value:
            self.fail(key, _("This field is required for this kind of source."))
        self.out[key] = value
        return value

    def integer(self, key: str, default: int, bounds: tuple[int, int]) -> int:
        value = self.config.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(key, _("Must be a whole number."))
            return default
        if not bounds[0] <= value <= bounds[1]:
            self.fail(key, _("Must be between %(min)d and %(max)d.")
                      % {"min": bounds[0], "max": bounds[1]})
        self.out[key] = value
        return value

    def choice(self, key: str, choices: tuple[str, ...], default: str) -> str:
        value = self.config.get(key, default)
        if value not in choices:
            self.fail(key, _("Must be one of: %(choices)s.") % {"choices": ", ".join(choices)})
            return default
        self.out[key] = value
        return value

    def metric(self, where: str, item: dict) -> tuple[str, str] | None:
        metric, unit = item.get("metric"), item.get("unit", "") or ""
        if not isinstance(metric, str) or not metric.strip() or len(metric.strip()) > METRIC_MAX:
            self.fail(where, _("Each metric needs a name of 1 to %(max)d characters.")
                      % {"max": METRIC_MAX})
            return None
        if not isinstance(unit, str) or len(unit.strip()) > UNIT_MAX:
            self.fail(where, _("A unit is a text of at most %(max)d characters.")
                      % {"max": UNIT_MAX})
            return None
        return metric.strip(), unit.strip()


def _mtconnect(c: _Checker) -> None:
    c.text("device")
    c.text("state_item")
    c.integer("poll_ms", 1000, POLL_MS)
    items = c.config.get("data_items") or {}
    if not isinstance(items, dict):
        c.fail("data_items", _('Must be an object: DataItem id → {"metric", "unit"}.'))
        return
    mapped = {}
    for item_id, target in items.items():
        if not isinstance(target, dict):
            c.fail("data_items", _('Must be an object: DataItem id → {"metric", "unit"}.'))
            return
        pair = c.metric("data_items", target)
        if pair:
            mapped[str(item_id)[:TEXT_MAX]] = {"metric": pair[0], "unit": pair[1]}
    c.out["data_items"] = mapped


def certificate_fingerprint(der: bytes) -> str:
    """A certificate's SHA-256 fingerprint as OPC UA tools show it (``AB:CD:…``): what a
    secured source pins as ``security.server_certificate``."""
    return _grouped(hashlib.sha256(der).hexdigest())


def _grouped(hex_digits: str) -> str:
    upper = hex_digits.upper()
    return ":".join(upper[i:i + 2] for i in range(0, len(upper), 2))


def _pinned_certificate(c: _Checker, security: dict, policy: str) -> str:
    """``security.server_certificate``: the SHA-256 fingerprint of the server's certificate
    a secured source trusts (any case, colons or spaces between the digits), normalised;
    "" for none (the certificate the server presents is used, as before)."""
    given = security.get("server_certificate")
    given = "" if given is None else given
    digits = re.sub(r"[\s:]", "", given) if isinstance(given, str) else None
    if digits is None or (digits and not _SHA256_HEX.match(digits)):
        c.fail("security", _("server_certificate is the SHA-256 fingerprint of the server's "
                             "certificate: 64 hexadecimal digits (colons allowed)."))
        return ""
    if digits and policy == "None":
        c.fail("security", _("A server certificate is checked only on a secured connection "
                             "(policy Basic256Sha256)."))
        return ""
    return _grouped(digits)


def _opcua(c: _Checker) -> None:
    c.choice("mode", ("subscribe", "history"), "subscribe")
    c.integer("sampling_ms", 1000, SAMPLING_MS)
    c.text("username")
    c.text("state_node")
    security = c.config.get("security") or {}
    if not isinstance(security, dict):
        c.fail("security", _('Must be an object: {"policy", "mode"}.'))
    else:
        policy = security.get("policy", "None") or "None"
        mode = security.get("mode") or ("None" if policy == "None" else "SignAndEncrypt")
        if policy not in OPCUA_POLICIES:
            c.fail("security", _("Policy must be one of: %(choices)s.")
                   % {"choices": ", ".join(OPCUA_POLICIES)})
        elif mode not in OPCUA_MODES or (policy == "None") != (mode == "None"):
            c.fail("security", _('Mode must be "None" with policy None, else "Sign" or '
                                 '"SignAndEncrypt".'))
        pinned = _pinned_certificate(c, security, policy)
        c.out["security"] = {"policy": policy, "mode": mode}
        if policy != "None":
            c.out["security"]["server_certificate"] = pinned
    nodes = c.config.get("nodes")
    if not isinstance(nodes, list) or not nodes:
        c.fail("nodes", _('Give at least one node: [{"node_id", "metric", "unit"}].'))
        return
    if len(nodes) > NODES_MAX:
        c.fail("nodes", _("At most %(max)d nodes.") % {"max": NODES_MAX})
        return
    out, seen = [], set()
    for node in nodes:
        if not isinstance(node, dict) or not isinstance(node.get("node_id"), str) \
                or not node["node_id"].strip():
            c.fail("nodes", _('Each node needs a node_id such as "ns=2;s=Spindle.Load".'))
            return
        pair = c.metric("nodes", node)
        if pair is None:
            return
        if pair[0] in seen:
            c.fail("nodes", _("Metric %(metric)s is named twice.") % {"metric": pair[0]})
            return
        seen.add(pair[0])
        out.append({"node_id": node["node_id"].strip()[:TEXT_MAX], "metric": pair[0],
                    "unit": pair[1]})
    c.out["nodes"] = out


def valid_topic_filter(topic: str) -> bool:
    """An MQTT topic filter: '+' only as a whole level, '#' only as the whole last one."""
    if not topic or len(topic) > TEXT_MAX or "\x00" in topic:
        return False
    levels = topic.split("/")
    for i, level in enumerate(levels):
        if level in ("+",) or (level == "#" and i == len(levels) - 1):
            continue
        if not _TOPIC_LEVEL.match(level):
            return False
    return True


def _mqtt(c: _Checker) -> None:
    topic = c.text("topic", required=True)
    if topic and not valid_topic_filter(topic):
        c.fail("topic", _("Not a valid MQTT topic filter: '+' stands for a whole level, "
                          "'#' only for the whole last level."))
    fmt = c.config.get("format", "json")
    if fmt == "sparkplug_b":
        c.fail("format", _("Sparkplug B payloads are not supported yet; publish JSON."))
    else:
        c.choice("format", MQTT_FORMATS, "json")
    c.text("username")
    c.text("state_metric", limit=METRIC_MAX)


_KINDS = {"mtconnect": (_mtconnect, {"device", "data_items", "state_item", "poll_ms"}),
          "opcua": (_opcua, {"nodes", "sampling_ms", "mode", "security", "username",
                             "state_node"}),
          "mqtt": (_mqtt, {"topic", "format", "username", "state_metric"})}


def config_keys(kind: str) -> set[str]:
    """The configuration fields of ``kind`` (beyond url and the secret)."""
    return set(_KINDS.get(kind, (None, set()))[1])


def all_config_keys() -> set[str]:
    return set().union(*(keys for _fn, keys in _KINDS.values()))


def clean_config(kind: str, config: Any) -> tuple[dict, Errors]:
    """The normalised configuration of a ``kind`` source, and the errors by field."""
    if kind not in _KINDS:
        if config:  # the same answer at every door: the API refuses such fields too
            return {}, {"result_source_config": [
                _("A %(kind)s source has no further settings; leave this empty.")
                % {"kind": kind}]}
        return {}, {}
    if not isinstance(config, dict):
        return {}, {"result_source_config": [_("Must be a JSON object.")]}
    check, keys = _KINDS[kind]
    c = _Checker(config)
    unknown = sorted(set(config) - keys)
    if unknown:
        c.fail(unknown[0], _("Not a field of a %(kind)s source (its fields: %(fields)s).")
               % {"kind": kind, "fields": ", ".join(sorted(keys | {"url"}))})
    check(c)
    return c.out, c.errors


def validate(equipment) -> dict[str, ValidationError]:
    """The result-source errors of ``equipment`` (model field → error); normalises its
    configuration in place. The URL goes through the outbound guard when set or
    changed (and again at every connection)."""
    kind = equipment.result_source_kind
    errors: dict[str, ValidationError] = {}
    config, found = clean_config(kind, equipment.result_source_config or {})
    for field, messages in found.items():
        errors[field] = ValidationError(messages)
    if not found:
        equipment.result_source_config = config
    if kind in SCHEMES and not equipment.result_source_url:
        errors["result_source_url"] = ValidationError(
            _("A %(kind)s result source needs a URL.") % {"kind": kind})
    return errors
