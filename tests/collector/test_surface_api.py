"""The result source through the API, and "test connection" (API and admin console).

What is proven: each kind's fields go in flat and come back (to the hub's operator only)
exactly as stored, normalised, secrets never shown; everyone else sees the kind; a PATCH
keeps what it does not name and a change of kind starts afresh (forgetting the secret);
errors name the field as the client sent it. "Test connection" reads a sample from real
peers on loopback (the demo gateway, an HTTP gateway, the shared Mosquitto), says in our
words what went wrong (a closed port, an unreadable answer), stores nothing, and is the
hub operator's alone."""

from __future__ import annotations

import socket
import uuid
from datetime import timedelta

import pytest
import time_machine
from django.apps import apps
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from equipment.models import Equipment
from tests.factories import HubFactory
from tests.fixtures.peers import Reply, results_csv
from tests.fixtures.world import key_client, make_equipment
from trials.plant.mqtt_publisher import publish_payloads, reading_payload
from trials.selectors import TEST_WINDOW
from trials.sources import demo
from trials.sources import mqtt as mqtt_source

pytestmark = pytest.mark.django_db

EQUIPMENT = "/api/v1/equipment/"
BROKER = "mqtt://127.0.0.1:1883"


def probe_url(equipment) -> str:
    return f"{EQUIPMENT}{equipment.pk}/result-source/test/"


def new_equipment(hub, result_source: dict) -> dict:
    return {
        "hub": hub.slug,
        "slug": "cell-1",
        "name": "Cell 1",
        "category": "cnc",
        "hourly_rate": "300.00",
        "result_source": result_source,
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def errors_of(response) -> dict:
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/problem+json"
    return response.json()["errors"]


@pytest.fixture
def operator_api(operator, category):
    return key_client(operator)


# --- configuration: write, read back, hide ---------------------------------------------

MQTT_IN = {
    "kind": "mqtt",
    "url": BROKER,
    "topic": "plant/robot-1/#",
    "username": "collector",
    "password": "pa55",
    "state_metric": "state",
}
OPCUA_IN = {
    "kind": "opcua",
    "url": "opc.tcp://127.0.0.1:4840",
    "sampling_ms": 250,
    "nodes": [
        {"node_id": "ns=2;s=Spindle.Load", "metric": "spindle_load", "unit": "%"},
        {"node_id": "ns=2;i=1002", "metric": "vibration_rms"},
    ],
    "username": "reader",
    "password": "s3cret",
    "state_node": "ns=2;s=Running",
}
MTCONNECT_IN = {
    "kind": "mtconnect",
    "url": "http://127.0.0.1:5000/",
    "device": "VMC-3Axis",
    "data_items": {"Sload": {"metric": "spindle_load", "unit": "%"}},
    "state_item": "execution",
    "poll_ms": 500,
}


@pytest.mark.parametrize(
    ("given", "shown", "secret", "config"),
    [
        (
            MQTT_IN,
            {
                "kind": "mqtt",
                "url": BROKER,
                "topic": "plant/robot-1/#",
                "format": "json",
                "username": "collector",
                "state_metric": "state",
            },
            "pa55",
            {
                "topic": "plant/robot-1/#",
                "format": "json",
                "username": "collector",
                "state_metric": "state",
            },
        ),
        (
            OPCUA_IN,
            {
                "kind": "opcua",
                "url": "opc.tcp://127.0.0.1:4840",
                "nodes": [
                    {"node_id": "ns=2;s=Spindle.Load", "metric": "spindle_load", "unit": "%"},
                    {"node_id": "ns=2;i=1002", "metric": "vibration_rms", "unit": ""},
                ],
                "sampling_ms": 250,
                "mode": "subscribe",
                "security": {"policy": "None", "mode": "None"},
                "username": "reader",
                "state_node": "ns=2;s=Running",
            },
            "s3cret",
            {
                "nodes": [
                    {"node_id": "ns=2;s=Spindle.Load", "metric": "spindle_load", "unit": "%"},
                    {"node_id": "ns=2;i=1002", "metric": "vibration_rms", "unit": ""},
                ],
                "sampling_ms": 250,
                "mode": "subscribe",
                "security": {"policy": "None", "mode": "None"},
                "username": "reader",
                "state_node": "ns=2;s=Running",
            },
        ),
        (
            MTCONNECT_IN,
            {
                "kind": "mtconnect",
                "url": "http://127.0.0.1:5000/",
                "device": "VMC-3Axis",
                "data_items": {"Sload": {"metric": "spindle_load", "unit": "%"}},
                "state_item": "execution",
                "poll_ms": 500,
            },
            "",
            {
                "device": "VMC-3Axis",
                "data_items": {"Sload": {"metric": "spindle_load", "unit": "%"}},
                "state_item": "execution",
                "poll_ms": 500,
            },
        ),
        (
            {"kind": "http", "url": "http://127.0.0.1:9/results", "secret": "bearer-1"},
            {"kind": "http", "url": "http://127.0.0.1:9/results"},
            "bearer-1",
            {},
        ),
    ],
    ids=["mqtt", "opcua", "mtconnect", "http"],
)
def test_round_trip_per_kind(operator_api, hub, category, sme, given, shown, secret, config):
    r = operator_api.post(EQUIPMENT, new_equipment(hub, given), format="json")
    assert r.status_code == 201, r.content
    assert r.json()["result_source"] == shown
    equipment = Equipment.objects.get(pk=r.json()["id"])
    assert (equipment.result_source_kind, equipment.result_source_secret) == (given["kind"], secret)
    assert equipment.result_source_config == config
    equipment.full_clean()  # what the API stored is a valid configuration
    # The operator reads it back as written (normalised), without the secret …
    assert operator_api.get(f"{EQUIPMENT}{equipment.pk}/").json()["result_source"] == shown
    # … and an SME sees the kind only.
    body = key_client(sme).get(f"{EQUIPMENT}{equipment.pk}/").content.decode()
    assert key_client(sme).get(f"{EQUIPMENT}{equipment.pk}/").json()["result_source"] == {
        "kind": given["kind"]
    }
    assert "127.0.0.1" not in body and (not secret or secret not in body)


def test_a_secured_source_pins_the_servers_certificate_in_one_spelling(operator_api, hub):
    """The fingerprint is taken in any case, with or without colons or spaces, and kept
    (and shown) as OPC UA tools show it; a secured source without one pins nothing."""
    digits = "0123456789abcdef" * 4
    pinned = {**OPCUA_IN, "security": {"policy": "Basic256Sha256", "mode": "Sign",
                                       "server_certificate": " ".join([digits[:32],
                                                                       digits[32:]])}}
    r = operator_api.post(EQUIPMENT, new_equipment(hub, pinned), format="json")
    assert r.status_code == 201, r.content
    fingerprint = ":".join(digits.upper()[i:i + 2] for i in range(0, 64, 2))
    assert r.json()["result_source"]["security"] == {
        "policy": "Basic256Sha256", "mode": "Sign", "server_certificate": fingerprint}
    unpinned = {**OPCUA_IN, "security": {"policy": "Basic256Sha256"}}
    r = operator_api.post(EQUIPMENT, {**new_equipment(hub, unpinned), "slug": "cnc-2"},
                          format="json")
    assert r.status_code == 201, r.content
    assert r.json()["result_source"]["security"] == {
        "policy": "Basic256Sha256", "mode": "SignAndEncrypt", "server_certificate": ""}


def test_another_operator_sees_the_kind_only(hub, category, other_operator):
    equipment = make_equipment(
        hub,
        category,
        "robot-1",
        result_source_kind="mqtt",
        result_source_url=BROKER,
        result_source_config={"topic": "a/#", "format": "json"},
    )
    r = key_client(other_operator).get(f"{EQUIPMENT}{equipment.pk}/")
    assert r.json()["result_source"] == {"kind": "mqtt"}


def test_patch_keeps_what_it_does_not_name(operator_api, hub):
    equipment = Equipment.objects.get(
        pk=operator_api.post(EQUIPMENT, new_equipment(hub, MQTT_IN), format="json").json()["id"]
    )
    r = operator_api.patch(
        f"{EQUIPMENT}{equipment.pk}/",
        {"result_source": {"topic": "plant/robot-2/#"}},
        format="json",
    )
    assert r.status_code == 200, r.content
    assert r.json()["result_source"] == {
        "kind": "mqtt",
        "url": BROKER,
        "topic": "plant/robot-2/#",
        "format": "json",
        "username": "collector",
        "state_metric": "state",
    }
    equipment.refresh_from_db()
    assert equipment.result_source_secret == "pa55"
    # The password alone, written only.
    r = operator_api.patch(
        f"{EQUIPMENT}{equipment.pk}/", {"result_source": {"password": "new-pass"}}, format="json"
    )
    assert r.status_code == 200 and "new-pass" not in r.content.decode()
    equipment.refresh_from_db()
    assert equipment.result_source_secret == "new-pass"
    assert equipment.result_source_config["topic"] == "plant/robot-2/#"


def test_changing_the_kind_needs_the_new_kinds_fields(operator_api, hub):
    equipment = Equipment.objects.get(
        pk=operator_api.post(EQUIPMENT, new_equipment(hub, MQTT_IN), format="json").json()["id"]
    )
    r = operator_api.patch(
        f"{EQUIPMENT}{equipment.pk}/",
        {"result_source": {"kind": "opcua", "url": "opc.tcp://127.0.0.1:4840"}},
        format="json",
    )
    assert errors_of(r) == {
        "result_source.nodes": ['Give at least one node: [{"node_id", "metric", "unit"}].']
    }
    equipment.refresh_from_db()
    assert (equipment.result_source_kind, equipment.result_source_url) == ("mqtt", BROKER)
    assert equipment.result_source_secret == "pa55"
    # To MQTT without a topic: the topic is required.
    opcua = Equipment.objects.get(
        pk=operator_api.post(
            EQUIPMENT, {**new_equipment(hub, OPCUA_IN), "slug": "cell-2"}, format="json"
        ).json()["id"]
    )
    r = operator_api.patch(
        f"{EQUIPMENT}{opcua.pk}/", {"result_source": {"kind": "mqtt", "url": BROKER}}, format="json"
    )
    assert errors_of(r) == {
        "result_source.topic": ["This field is required for this kind of source."]
    }


def test_a_new_kind_forgets_the_old_secret(operator_api, hub, category):
    equipment = make_equipment(
        hub,
        category,
        "gw-1",
        result_source_kind="http",
        result_source_url="http://127.0.0.1:9/results",
        result_source_secret="bearer-1",
    )
    r = operator_api.patch(
        f"{EQUIPMENT}{equipment.pk}/",
        {"result_source": {"kind": "mqtt", "url": BROKER, "topic": "plant/#"}},
        format="json",
    )
    assert r.status_code == 200, r.content
    equipment.refresh_from_db()
    assert equipment.result_source_secret == ""  # the gateway's token never goes to a broker
    assert equipment.result_source_config == {
        "topic": "plant/#",
        "format": "json",
        "username": "",
        "state_metric": "",
    }


@pytest.mark.parametrize(
    ("source", "errors"),
    [
        (
            {**MTCONNECT_IN, "topic": "a/#"},
            {
                "result_source.topic": [
                    "Not a field of a mtconnect source (its fields: data_items, "
                    "device, poll_ms, state_item, url)."
                ]
            },
        ),
        (
            {"kind": "http", "url": "http://127.0.0.1:9/r", "password": "x"},
            {"result_source.password": ["Not a field of a http source (its fields: secret, url)."]},
        ),
        (
            {**MQTT_IN, "secret": "x", "nodes": []},
            {
                "result_source.secret": [
                    "Not a field of a mqtt source (its fields: format, password, "
                    "state_metric, topic, url, username)."
                ],
                "result_source.nodes": [
                    "Not a field of a mqtt source (its fields: format, password, "
                    "state_metric, topic, url, username)."
                ],
            },
        ),
        (
            {"kind": "demo", "device": "x"},
            {"result_source.device": ["Not a field of a demo source (its fields: url)."]},
        ),
        (
            {**MQTT_IN, "topic": "plant/#/robot"},
            {
                "result_source.topic": [
                    "Not a valid MQTT topic filter: '+' stands for a whole level, "
                    "'#' only for the whole last level."
                ]
            },
        ),
        (
            {**MQTT_IN, "format": "sparkplug_b"},
            {"result_source.format": ["Sparkplug B payloads are not supported yet; publish JSON."]},
        ),
        (
            {**OPCUA_IN, "sampling_ms": 5},
            {"result_source.sampling_ms": ["Must be between 10 and 3600000."]},
        ),
        (
            {
                **OPCUA_IN,
                "nodes": [
                    {"node_id": "ns=2;i=1", "metric": "a"},
                    {"node_id": "ns=2;i=2", "metric": "a"},
                ],
            },
            {"result_source.nodes": ["Metric a is named twice."]},
        ),
        (
            {**OPCUA_IN, "nodes": [{"metric": "a"}]},
            {"result_source.nodes.0.node_id": ["This field is required."]},
        ),
        (
            {**OPCUA_IN, "url": "https://127.0.0.1/"},
            {"result_source.url": ["Only opc.tcp:// addresses may be called here from Testbed."]},
        ),
        ({**MQTT_IN, "url": ""}, {"result_source.url": ["A mqtt result source needs a URL."]}),
        (
            {**OPCUA_IN, "security": {"policy": "Basic256Sha256", "server_certificate": "AB:CD"}},
            {"result_source.security": [
                "server_certificate is the SHA-256 fingerprint of the server's certificate: "
                "64 hexadecimal digits (colons allowed)."]},
        ),
        (
            {**OPCUA_IN, "security": {"policy": "None", "server_certificate": "ab" * 32}},
            {"result_source.security": [
                "A server certificate is checked only on a secured connection (policy "
                "Basic256Sha256)."]},
        ),
    ],
    ids=[
        "foreign-field",
        "password-on-http",
        "secret-and-nodes-on-mqtt",
        "field-on-demo",
        "bad-topic",
        "sparkplug",
        "sampling",
        "metric-twice",
        "node-without-id",
        "scheme",
        "no-url",
        "fingerprint-not-sha256",
        "fingerprint-without-security",
    ],
)
def test_errors_name_the_field_sent(operator_api, hub, source, errors):
    assert (
        errors_of(operator_api.post(EQUIPMENT, new_equipment(hub, source), format="json")) == errors
    )
    assert not Equipment.objects.exists()


def test_the_schema_describes_every_field(client):
    schema = client.get("/api/schema/", {"format": "json"}).json()
    fields = schema["components"]["schemas"]["ResultSourceRequest"]["properties"]
    assert set(fields) == {
        "kind",
        "url",
        "secret",
        "password",
        "device",
        "data_items",
        "state_item",
        "poll_ms",
        "nodes",
        "sampling_ms",
        "mode",
        "security",
        "username",
        "state_node",
        "topic",
        "format",
        "state_metric",
    }
    shown = schema["components"]["schemas"]["ResultSource"]["properties"]
    assert "secret" not in shown and "password" not in shown
    assert fields["nodes"]["items"] == {"$ref": "#/components/schemas/NodeRequest"}
    test = schema["paths"]["/api/v1/equipment/{id}/result-source/test/"]["post"]
    assert test["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/SourceCheck"
    }
    assert {"404", "409"} <= set(test["responses"])


# --- test connection: the API ---------------------------------------------------------


def _row_counts() -> dict[str, int]:
    return {m._meta.label: m._default_manager.count() for m in apps.get_models()}


def test_demo_source_answers_with_its_metrics_and_nothing_is_stored(operator_api, hub, category):
    equipment = make_equipment(hub, category, "demo-1", result_source_kind="demo")
    now = timezone.now().replace(microsecond=0)
    expected = {}
    for _ts, name, value, unit in demo.readings(
        category.slug, f"{equipment.pk}:{(now - TEST_WINDOW).isoformat()}", now - TEST_WINDOW, now
    ):
        expected[name] = {"metric": name, "unit": unit, "value": float(f"{value:.4f}")}
    before = _row_counts()
    with time_machine.travel(now, tick=False):
        r = operator_api.post(probe_url(equipment))
    assert r.status_code == 200, r.content
    assert r.json() == {
        "ok": True,
        "kind": "demo",
        "metrics": [expected[m] for m in sorted(expected)],
    }
    assert [m["metric"] for m in r.json()["metrics"]] == [
        "cycle_time",
        "defect_rate",
        "spindle_load",
        "vibration_rms",
    ]
    assert _row_counts() == before


def test_http_gateway_asked_for_the_last_minutes(operator_api, http_equipment, gateway):
    now = timezone.now().replace(microsecond=0)
    gateway.reply(Reply(body=results_csv(now - timedelta(minutes=4), rows=4)))
    with time_machine.travel(now, tick=False):
        r = operator_api.post(probe_url(http_equipment))
    assert r.json() == {
        "ok": True,
        "kind": "http",
        "metrics": [
            {"metric": "spindle_load", "unit": "%", "value": 63.0},
            {"metric": "vibration_rms", "unit": "mm/s", "value": 1.8},
        ],
    }
    (request,) = gateway.requests
    assert request["auth"] == "Bearer s3cret"
    start = (now - timedelta(minutes=5)).isoformat().replace("+", "%2B").replace(":", "%3A")
    assert f"start={start}" in request["path"]


def test_http_gateway_with_an_unreadable_answer(operator_api, http_equipment, gateway):
    gateway.reply(Reply(body=b"<html>secret internal page</html>", content_type="text/html"))
    r = operator_api.post(probe_url(http_equipment))
    assert r.json() == {
        "ok": False,
        "kind": "http",
        "error": (
            "The source answered, but not with readings Testbed can read (CSV or JSON: "
            "timestamp, metric, value, unit)."
        ),
    }
    assert "internal" not in r.content.decode()  # never the remote answer


def test_a_closed_port_is_a_clear_error(operator_api, hub, category):
    equipment = make_equipment(
        hub,
        category,
        "gw-closed",
        result_source_kind="http",
        result_source_url=f"http://127.0.0.1:{free_port()}/results",
    )
    r = operator_api.post(probe_url(equipment))
    assert r.status_code == 200
    assert r.json() == {"ok": False, "kind": "http", "error": "Could not connect to the gateway."}


def test_mqtt_source_finds_what_the_broker_has(operator_api, hub, category, settings):
    settings.TRIAL_SOURCE_TIMEOUT = 5
    topic = f"testbed-test/{uuid.uuid4().hex[:12]}"
    equipment = make_equipment(
        hub,
        category,
        "robot-1",
        result_source_kind="mqtt",
        result_source_url=BROKER,
        result_source_config={"topic": f"{topic}/#"},
    )
    equipment.full_clean()
    equipment.save()
    now = timezone.now()
    publish_payloads(
        BROKER, f"{topic}/cell", [reading_payload(now, "spindle_load", 61.5, "%")], retain=True
    )
    try:
        r = operator_api.post(probe_url(equipment))
    finally:
        publish_payloads(BROKER, f"{topic}/cell", [b""], retain=True)  # clears the retained
    assert r.json() == {
        "ok": True,
        "kind": "mqtt",
        "metrics": [{"metric": "spindle_load", "unit": "%", "value": 61.5}],
    }


def test_mqtt_broker_not_there(operator_api, hub, category, settings):
    settings.TRIAL_SOURCE_TIMEOUT = 3
    equipment = make_equipment(
        hub,
        category,
        "robot-2",
        result_source_kind="mqtt",
        result_source_url=f"mqtt://127.0.0.1:{free_port()}",
        result_source_config={"topic": "x/#"},
    )
    r = operator_api.post(probe_url(equipment))
    assert r.json() == {"ok": False, "kind": "mqtt", "error": str(mqtt_source.UNREACHABLE)}


def test_equipment_without_a_source_is_409(operator_api, equipment):
    r = operator_api.post(probe_url(equipment))
    assert r.status_code == 409
    assert r.json()["code"] == "result_source_not_testable"


def test_only_the_hub_operator_may_test(hub, category, sme, other_operator):
    equipment = make_equipment(hub, category, "demo-1", result_source_kind="demo")
    for org in (sme, other_operator):
        r = key_client(org).post(probe_url(equipment))
        assert r.status_code == 404 and r.json()["code"] == "equipment_not_found"
    theirs = make_equipment(
        HubFactory(operator=other_operator), category, "theirs", result_source_kind="demo"
    )
    assert key_client(other_operator).post(probe_url(theirs)).json()["ok"] is True


# --- test connection: the admin console -----------------------------------------------


def test_admin_button_tests_the_saved_source(admin_client, hub, category):
    equipment = make_equipment(hub, category, "demo-1", result_source_kind="demo")
    change = reverse("admin:equipment_equipment_change", args=[equipment.pk])
    action = reverse("admin:trials_test_source", args=[equipment.pk])
    assert f'formaction="{action}"' in admin_client.get(change).content.decode()
    r = admin_client.post(action)
    assert r.status_code == 302 and r["Location"] == change
    (message,) = get_messages(r.wsgi_request)
    assert message.level_tag == "success"
    assert str(message).startswith("Connected to the result source: 4 metrics found (cycle_time = ")
    assert admin_client.get(action).status_code == 405  # a GET connects nowhere


def test_admin_button_says_what_failed(admin_client, hub, category, equipment):
    closed = make_equipment(
        hub,
        category,
        "gw-closed",
        result_source_kind="http",
        result_source_url=f"http://127.0.0.1:{free_port()}/results",
    )
    r = admin_client.post(reverse("admin:trials_test_source", args=[closed.pk]))
    (message,) = get_messages(r.wsgi_request)
    assert (message.level_tag, str(message)) == (
        "error",
        "The test of the result source failed: Could not connect to the gateway.",
    )
    admin_client.get(r["Location"])  # shows (and so clears) the message
    r = admin_client.post(reverse("admin:trials_test_source", args=[equipment.pk]))
    (message,) = get_messages(r.wsgi_request)
    assert (message.level_tag, str(message)) == (
        "warning",
        "This equipment has no result source to test (its results are uploaded).",
    )


# --- the source in the admin console ----------------------------------------------------


def _change_form(admin_client, equipment, **changes) -> dict:
    """The equipment's change form as the console fills it, with ``changes``."""
    page = admin_client.get(reverse("admin:equipment_equipment_change", args=[equipment.pk]))
    form = page.context["adminform"].form
    data = {name: form[name].value() for name in form.fields}
    data = {k: ("" if v is None else v) for k, v in data.items()}
    data["capabilities"] = []
    data["result_source_config"] = form["result_source_config"].value()
    data.update(
        {
            "maintenance_windows-TOTAL_FORMS": "0",
            "maintenance_windows-INITIAL_FORMS": "0",
            "_save": "Save",
            **changes,
        }
    )
    return data


def test_admin_shows_configuration_errors_on_the_field(admin_client, hub, category):
    equipment = make_equipment(hub, category, "robot-1")
    change = reverse("admin:equipment_equipment_change", args=[equipment.pk])
    r = admin_client.post(
        change,
        _change_form(
            admin_client,
            equipment,
            result_source_kind="mqtt",
            result_source_url=BROKER,
            result_source_config='{"topic": "a/#/b", "nodes": []}',
        ),
    )
    assert r.status_code == 200
    errors = r.context["adminform"].form.errors
    assert errors["result_source_config"] == [
        "nodes: Not a field of a mqtt source (its fields: format, state_metric, topic, url, "
        "username).",
        "topic: Not a valid MQTT topic filter: '+' stands for a whole level, '#' only for "
        "the whole last level.",
    ]
    r = admin_client.post(
        change,
        _change_form(
            admin_client,
            equipment,
            result_source_kind="mqtt",
            result_source_url=BROKER,
            result_source_config='{"topic": "plant/#"}',
        ),
    )
    assert r.status_code == 302, r.context["adminform"].form.errors
    equipment.refresh_from_db()
    assert equipment.result_source_config == {
        "topic": "plant/#",
        "format": "json",
        "username": "",
        "state_metric": "",
    }
