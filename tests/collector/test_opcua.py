"""The OPC UA source against a real asyncua server on loopback (trials.plant.opcua_server):
subscription readings with their source timestamps, reconnection after a server restart
or a network cut (with the gap recorded), history reads of a window, "test connection",
Basic256Sha256 with a login."""

from __future__ import annotations

import socket
import stat
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from asyncua.crypto import cert_gen
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID
from django.test import Client
from django.urls import reverse

from equipment import sources
from tests.collector.sinks import MemorySink
from tests.collector.support import collector, finish, running_booking, wait_for
from tests.factories import MembershipFactory, UserFactory
from tests.faults.proxy import TcpProxy
from tests.fixtures.world import key_client, make_equipment
from trials.collector.base import Found, Reading
from trials.models import Measurement, Observation, SourceGap
from trials.plant.opcua_server import PRINTER, PlantServer, source_config
from trials.selectors import check_result_source
from trials.sources import SourceError, TransientSourceError, opcua
from trials.sources.opcua import certificates

LAYER = "ns=2;s=Printer.LayerTemperature"
OXYGEN = "ns=2;s=Printer.OxygenLevel"
STATE = "ns=2;s=Printer.State"
MS = timedelta(milliseconds=1)


@pytest.fixture
def plant():
    """A plant of the test's own (fresh values; the test may restart or stop it)."""
    server = PlantServer(port=0).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def shared_plant():
    """One plant for the tests that only set values (starting a server takes seconds)."""
    server = PlantServer(port=0).start()
    yield server
    server.stop()


def dead_url() -> str:
    """An opc.tcp URL where nothing listens."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"opc.tcp://127.0.0.1:{port}/testbed/plant/"


def configure(
    equipment,
    url: str,
    *,
    mode: str = "subscribe",
    security=None,
    username: str = "",
    password: str = "",
    nodes=None,
    state_node: str = STATE,
):
    equipment.result_source_kind = "opcua"
    equipment.result_source_url = url
    equipment.result_source_secret = password
    equipment.result_source_config = {
        "nodes": nodes
        or [
            {"node_id": LAYER, "metric": "layer_temperature", "unit": "°C"},
            {"node_id": OXYGEN, "metric": "oxygen_level", "unit": "ppm"},
        ],
        "sampling_ms": 100,
        "mode": mode,
        "state_node": state_node,
        "username": username,
        **({"security": security} if security else {}),
    }
    equipment.full_clean()
    equipment.save()
    return equipment


@pytest.fixture
def printer(hub, category, plant):
    return configure(make_equipment(hub, category, slug="printer-1"), plant.url)


@pytest.fixture
def shared_printer(hub, category, shared_plant):
    return configure(make_equipment(hub, category, slug="printer-s"), shared_plant.url)


class Running:
    """A driver in its own thread, as the collector runs it."""

    def __init__(self, equipment, sink: MemorySink):
        self.sink = sink
        self.stop = threading.Event()
        self.driver = opcua.Driver(equipment, sink, self.stop)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            self.driver.run()
        except BaseException as exc:  # the test reports it
            self.error = exc

    def until(self, predicate, timeout: float = 15.0, what: str = "") -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            assert self.error is None, self.error
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(0.05)

    def finish(self) -> None:
        self.stop.set()
        self.thread.join(timeout=10)
        assert not self.thread.is_alive()
        assert self.error is None, self.error


def test_values_set_during_the_run_become_exactly_those_readings(printer, plant):
    running = Running(printer, MemorySink(printer.pk))
    # On subscribing, each node reports its current value once: 0.0, and Idle as 0.
    running.until(lambda: len(running.sink.readings) == 3, what="the current values")
    assert sorted((r.metric, r.value, r.unit) for r in running.sink.readings) == [
        ("layer_temperature", 0.0, "°C"),
        ("oxygen_level", 0.0, "ppm"),
        ("state", 0.0, ""),
    ]

    base = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=5)
    expected = set()
    for i in range(20):
        ts = base + i * 50 * MS
        plant.set(LAYER, 1600.0 + i / 4, ts=ts)
        plant.set(OXYGEN, 380.0 - i, ts=ts + MS)
        expected |= {
            Reading(ts, "layer_temperature", 1600.0 + i / 4, "°C"),
            Reading(ts + MS, "oxygen_level", 380.0 - i, "ppm"),
        }
    plant.set(STATE, "Running", ts=base + 2 * timedelta(seconds=1))
    plant.set(OXYGEN, 360.5, ts=base + 3 * timedelta(seconds=1))
    plant.set(OXYGEN, 360.5, ts=base + 4 * timedelta(seconds=1))  # the same value again
    expected |= {
        Reading(base + timedelta(seconds=2), "state", 1.0, ""),
        Reading(base + timedelta(seconds=3), "oxygen_level", 360.5, "ppm"),
        Reading(base + timedelta(seconds=4), "oxygen_level", 360.5, "ppm"),
    }
    running.until(lambda: len(running.sink.readings) == 3 + 43, what="43 readings")
    time.sleep(0.5)  # nothing more comes
    running.finish()

    received = running.sink.readings[3:]
    assert len(received) == 43
    assert set(received) == expected
    assert running.sink.gaps == []


def test_the_demo_printer_runs(hub, category, plant):
    equipment = make_equipment(hub, category, slug="printer-demo")
    equipment.result_source_kind, equipment.result_source_url = "opcua", plant.url
    equipment.result_source_config = source_config(PRINTER, sampling_ms=100)
    equipment.full_clean()
    equipment.save()
    running = Running(equipment, MemorySink(equipment.pk))
    running.until(lambda: len(running.sink.readings) == 5, what="the current values")
    plant.run_machine(0.1)  # runs a build for 40 ticks, then idles for 10
    running.until(lambda: len(running.sink.readings) >= 5 + 5 * 10, what="ten ticks")
    running.finish()
    ticks = running.sink.readings[5:]
    by_metric = {}
    for r in ticks:
        by_metric.setdefault((r.metric, r.unit), []).append(r.value)
    assert set(by_metric) == {
        ("layer_temperature", "°C"),
        ("oxygen_level", "ppm"),
        ("chamber_pressure", "mbar"),
        ("laser_power", "W"),
        ("state", ""),
    }
    assert by_metric[("state", "")] == [1.0]  # Running from the first tick, once: a change
    assert all(340 < v < 400 for v in by_metric[("laser_power", "W")])
    assert all(1500 < v < 1750 for v in by_metric[("layer_temperature", "°C")])
    assert len(by_metric[("laser_power", "W")]) >= 10


def test_readings_are_handed_over_in_batches(shared_printer, shared_plant):
    plant = shared_plant
    running = Running(shared_printer, MemorySink(shared_printer.pk))
    running.until(lambda: len(running.sink.readings) == 3, what="the current values")
    writes = []
    original = running.sink.write
    running.sink.write = lambda readings, **kw: (
        writes.append(len(readings)),
        original(readings, **kw),
    )
    base = datetime.now(UTC) - timedelta(seconds=10)
    plant.set_many({LAYER: 1.0, OXYGEN: 2.0}, ts=base)
    plant.set_many({LAYER: 3.0, OXYGEN: 4.0}, ts=base + MS)
    running.until(lambda: len(running.sink.readings) == 7, what="4 readings")
    running.finish()
    assert sum(writes) == 4 and len(writes) <= 2


def test_server_restart_reconnects_and_records_the_gap(printer, plant):
    running = Running(printer, MemorySink(printer.pk))
    running.until(lambda: len(running.sink.readings) == 3, what="the current values")
    before = datetime.now(UTC)  # later than the current values'
    plant.set(LAYER, 1612.0, ts=before)
    running.until(
        lambda: any(r.value == 1612.0 for r in running.sink.readings),
        what="the reading before the restart",
    )

    cut = datetime.now(UTC)
    plant.restart()
    restarted = datetime.now(UTC)
    running.until(lambda: running.sink.gaps, timeout=20, what="the gap")
    gap = running.sink.gaps[0]
    assert gap.reason == "disconnected"
    # From when the server was last heard from (the last reading, or a keep-alive after
    # it) to when the new subscription stood.
    assert before <= gap.start <= restarted
    assert restarted <= gap.end <= datetime.now(UTC)

    later = datetime.now(UTC)
    plant.set(LAYER, 1625.5, ts=later)
    running.until(
        lambda: any(r.value == 1625.5 for r in running.sink.readings),
        what="a reading after the restart",
    )
    running.finish()
    assert [r for r in running.sink.readings if r.value == 1625.5] == [
        Reading(later, "layer_temperature", 1625.5, "°C")
    ]
    # The server kept its values: on subscribing again they come once more (the
    # observation table stores a reading once: same metric and source timestamp).
    assert {r for r in running.sink.readings if r.ts >= before} == {
        Reading(before, "layer_temperature", 1612.0, "°C"),
        Reading(later, "layer_temperature", 1625.5, "°C"),
    }
    assert len(running.sink.gaps) == 1 and cut < gap.end
    assert running.sink.state() == {"hold": running.sink.held_since().isoformat()}


def test_network_cut_reconnects_and_records_the_gap(hub, category, plant):
    proxy = TcpProxy("127.0.0.1", plant.port)
    try:
        equipment = configure(
            make_equipment(hub, category, slug="printer-2"),
            f"opc.tcp://127.0.0.1:{proxy.port}/testbed/plant/",
        )
        running = Running(equipment, MemorySink(equipment.pk))
        running.until(lambda: len(running.sink.readings) == 3, what="the current values")
        first = datetime.now(UTC)
        plant.set(OXYGEN, 400.0, ts=first)
        running.until(lambda: len(running.sink.readings) == 4, what="a reading")

        proxy.refuse()
        missed = datetime.now(UTC) + MS
        plant.set(OXYGEN, 401.0, ts=missed)  # while cut: only the latest value survives
        plant.set(OXYGEN, 402.0, ts=missed + MS)
        time.sleep(3)
        assert running.sink.gaps == []  # still out
        proxy.accept()
        running.until(lambda: running.sink.gaps, timeout=20, what="the gap")
        running.until(lambda: len(running.sink.readings) == 5 + 2, what="the current values")
        running.finish()
    finally:
        proxy.close()
    [gap] = running.sink.gaps
    assert gap.reason == "disconnected"
    assert first <= gap.start <= missed
    assert gap.end > missed + timedelta(seconds=3)
    # After the cut the subscription starts again with each node's current value.
    initial = {r.metric: r for r in running.sink.readings[:3]}
    assert set(running.sink.readings[4:]) == {
        initial["layer_temperature"],
        initial["state"],
        Reading(missed + MS, "oxygen_level", 402.0, "ppm"),
    }


def test_a_collector_that_was_down_records_the_period(shared_printer):
    now = datetime.now(UTC)
    sink = MemorySink(shared_printer.pk, held_since=now, last_held=now - timedelta(minutes=3))
    running = Running(shared_printer, sink)
    running.until(lambda: len(sink.readings) == 3, what="the current values")
    running.finish()
    [gap] = sink.gaps
    assert (gap.reason, gap.start) == ("collector_down", now - timedelta(minutes=3))
    assert now <= gap.end <= datetime.now(UTC)


def test_a_driver_started_again_in_the_same_hold_records_no_second_collector_down(shared_printer):
    now = datetime.now(UTC)
    sink = MemorySink(
        shared_printer.pk,
        held_since=now,
        last_held=now - timedelta(minutes=3),
        state={"hold": now.isoformat()},
    )
    running = Running(shared_printer, sink)
    running.until(lambda: len(sink.readings) == 3, what="the current values")
    running.finish()
    assert sink.gaps == []


def test_a_driver_that_stopped_on_an_error_hands_its_gap_to_the_next(hub, category, shared_plant):
    equipment = configure(
        make_equipment(hub, category, slug="printer-9"),
        shared_plant.url,
        nodes=[{"node_id": "ns=2;s=Printer.Nozzle", "metric": "nozzle"}],
        state_node="",
    )
    now = datetime.now(UTC)
    sink = MemorySink(equipment.pk, held_since=now)
    failed = Running(equipment, sink)
    failed.thread.join(timeout=15)
    assert str(failed.error) == "The OPC UA server has no node ns=2;s=Printer.Nozzle."
    down_since = sink.state()["down_since"]
    assert now <= datetime.fromisoformat(down_since) <= datetime.now(UTC)
    assert sink.gaps == []

    configure(equipment, shared_plant.url)  # the operator corrects the node
    again = Running(equipment, sink)  # the collector starts the driver again
    again.until(lambda: len(sink.readings) == 3, what="the current values")
    again.finish()
    [gap] = sink.gaps
    assert (gap.reason, gap.start.isoformat()) == ("disconnected", down_since)
    assert sink.state() == {"hold": now.isoformat()}


def test_a_short_handover_is_no_gap(shared_printer):
    now = datetime.now(UTC)
    sink = MemorySink(shared_printer.pk, held_since=now, last_held=now - timedelta(seconds=2))
    running = Running(shared_printer, sink)
    running.until(lambda: len(sink.readings) == 3, what="the current values")
    running.finish()
    assert sink.gaps == []


def test_unreachable_server_is_retried_and_the_gap_runs_until_stop(hub, category):
    equipment = configure(make_equipment(hub, category, slug="printer-3"), dead_url())
    began = datetime.now(UTC)
    running = Running(equipment, MemorySink(equipment.pk))
    time.sleep(1.5)
    running.finish()
    [gap] = running.sink.gaps
    assert gap.reason == "disconnected"
    assert began <= gap.start <= began + timedelta(seconds=1)
    assert began + timedelta(seconds=1.5) <= gap.end <= datetime.now(UTC)
    assert running.sink.readings == []


def test_a_driver_waiting_for_a_mute_server_stops_at_once(hub, category):
    with socket.socket() as mute:  # accepts connections, never answers
        mute.bind(("127.0.0.1", 0))
        mute.listen()
        equipment = configure(
            make_equipment(hub, category, slug="printer-10"),
            f"opc.tcp://127.0.0.1:{mute.getsockname()[1]}/",
        )
        started = datetime.now(UTC)
        running = Running(equipment, MemorySink(equipment.pk))
        time.sleep(1)
        began = time.monotonic()
        running.finish()
    assert time.monotonic() - began < 1
    [gap] = running.sink.gaps  # nothing was read from the start
    assert gap.reason == "disconnected"
    assert started <= gap.start <= started + timedelta(seconds=1) <= gap.end


def test_history_mode_returns_the_window_only(hub, category, shared_plant):
    plant = shared_plant
    equipment = configure(
        make_equipment(hub, category, slug="printer-4"), plant.url, mode="history"
    )
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    end = start + timedelta(minutes=30)
    stamps = [
        start - timedelta(seconds=1),
        start,
        start + timedelta(minutes=10),
        end - MS,
        end,
        end + timedelta(minutes=1),
    ]
    for i, ts in enumerate(stamps):
        plant.set(LAYER, 1600.0 + i, ts=ts)
        plant.set(OXYGEN, 300.0 + i, ts=ts)
    plant.set(STATE, "Idle", ts=start - timedelta(minutes=1))  # a change is historised
    plant.set(STATE, "Running", ts=start + timedelta(minutes=1))
    plant.set(STATE, "Idle", ts=start + timedelta(minutes=29))

    # The server historises the writes through its own subscription, a moment later.
    wait_for(lambda: len(opcua.fetch_history(equipment, start, end)) >= 8,
             what="the server to historise the writes")
    readings = opcua.fetch_history(equipment, start, end)
    inside = [(1, start), (2, start + timedelta(minutes=10)), (3, end - MS)]
    assert sorted(readings) == sorted(
        [Reading(ts, "layer_temperature", 1600.0 + i, "°C") for i, ts in inside]
        + [Reading(ts, "oxygen_level", 300.0 + i, "ppm") for i, ts in inside]
        + [
            Reading(start + timedelta(minutes=1), "state", 1.0, ""),
            Reading(start + timedelta(minutes=29), "state", 0.0, ""),
        ]
    )


def test_history_of_a_server_that_keeps_none_is_refused(hub, category):
    plant = PlantServer(port=0, history=False).start()
    try:
        equipment = configure(
            make_equipment(hub, category, slug="printer-5"), plant.url, mode="history"
        )
        now = datetime.now(UTC)
        with pytest.raises(SourceError) as caught:
            opcua.fetch_history(equipment, now - timedelta(hours=1), now)
    finally:
        plant.stop()
    assert not isinstance(caught.value, TransientSourceError)
    assert str(caught.value) == f"The OPC UA server keeps no history for node {LAYER}."


def test_probe_reads_every_node(shared_printer, shared_plant):
    shared_plant.set_many({LAYER: 1618.25, OXYGEN: 377.0, STATE: "Running"})
    found = opcua.probe(shared_printer)
    assert found == [
        Found("layer_temperature", "°C", 1618.25),
        Found("oxygen_level", "ppm", 377.0),
        Found("state", "", 1.0),
    ]
    # Unsecured: whatever certificate the server sent was never checked; none to pin.
    assert found.server_certificate == ""


def test_probe_by_host_name_and_over_ipv6(hub, category, shared_plant):
    """The client connects to the address the outbound guard checked: the name resolved
    once (localhost), an IPv6 address in brackets."""
    by_name = configure(
        make_equipment(hub, category, slug="printer-name"),
        f"opc.tcp://localhost:{shared_plant.port}/testbed/plant/",
    )
    shared_plant.set(OXYGEN, 371.0)
    assert opcua.probe(by_name)[1] == Found("oxygen_level", "ppm", 371.0)
    plant6 = PlantServer(port=0, host="::1", history=False).start()
    try:
        plant6.set(OXYGEN, 372.0)
        over_ipv6 = configure(make_equipment(hub, category, slug="printer-ipv6"), plant6.url)
        assert over_ipv6.result_source_url.startswith("opc.tcp://[::1]:")
        assert opcua.probe(over_ipv6)[1] == Found("oxygen_level", "ppm", 372.0)
    finally:
        plant6.stop()


def test_probe_names_a_missing_node(hub, category, shared_plant):
    equipment = configure(
        make_equipment(hub, category, slug="printer-6"),
        shared_plant.url,
        nodes=[
            {"node_id": LAYER, "metric": "layer_temperature", "unit": "°C"},
            {"node_id": "ns=2;s=Printer.Nozzle", "metric": "nozzle", "unit": ""},
        ],
    )
    with pytest.raises(SourceError) as caught:
        opcua.probe(equipment)
    assert str(caught.value) == "The OPC UA server has no node ns=2;s=Printer.Nozzle."


def test_probe_refused_by_the_outbound_guard(shared_printer, settings):
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    with pytest.raises(SourceError) as caught:
        opcua.probe(shared_printer)
    assert str(caught.value) == str(opcua.REFUSED)


def test_probe_of_nothing_listening_cannot_connect(hub, category):
    equipment = configure(make_equipment(hub, category, slug="printer-7"), dead_url())
    with pytest.raises(TransientSourceError) as caught:
        opcua.probe(equipment, timeout=3)
    assert str(caught.value) == str(opcua.CANNOT_CONNECT)


def test_driver_skips_a_missing_node_and_reads_the_others(hub, category, shared_plant):
    plant = shared_plant
    equipment = configure(
        make_equipment(hub, category, slug="printer-8"),
        plant.url,
        nodes=[
            {"node_id": LAYER, "metric": "layer_temperature", "unit": "°C"},
            {"node_id": "ns=2;s=Printer.Nozzle", "metric": "nozzle", "unit": ""},
        ],
    )
    running = Running(equipment, MemorySink(equipment.pk))
    running.until(lambda: len(running.sink.readings) == 2, what="the current values")
    ts = datetime.now(UTC)
    plant.set(LAYER, 1.5, ts=ts)
    running.until(lambda: len(running.sink.readings) == 3, what="a reading")
    running.finish()
    assert running.sink.readings[-1] == Reading(ts, "layer_temperature", 1.5, "°C")


@pytest.fixture
def secured_plant(settings, tmp_path):
    """A plant server offering Basic256Sha256 only, with a login (operator / s3cret); its
    certificate under ``tmp_path / "server"``, the collector's under MEDIA_ROOT."""
    settings.MEDIA_ROOT = tmp_path / "media"
    plant = PlantServer(
        port=0, security=True, users={"operator": "s3cret"}, cert_dir=tmp_path / "server"
    ).start()
    plant.set(LAYER, 1599.0)
    yield plant
    plant.stop()


def test_secure_login_with_basic256sha256(hub, category, settings, tmp_path, secured_plant):
    plant = secured_plant
    for mode in ("SignAndEncrypt", "Sign"):
        equipment = configure(
            make_equipment(hub, category, slug=f"printer-{mode.lower()}"),
            plant.url,
            security={"policy": "Basic256Sha256", "mode": mode},
            username="operator",
            password="s3cret",
        )
        assert opcua.probe(equipment)[0] == Found("layer_temperature", "°C", 1599.0)
    assert (tmp_path / "media" / "opcua" / "client-cert.der").is_file()

    running = Running(equipment, MemorySink(equipment.pk))  # subscribed, signed
    running.until(lambda: len(running.sink.readings) == 3, what="the current values")
    ts = datetime.now(UTC)
    plant.set(LAYER, 1601.5, ts=ts)
    running.until(lambda: len(running.sink.readings) == 4, what="a reading")
    running.finish()
    assert running.sink.readings[-1] == Reading(ts, "layer_temperature", 1601.5, "°C")

    settings.OPCUA_CLIENT_CERT, settings.OPCUA_CLIENT_KEY = deployment_certificate(
        tmp_path / "own", "urn:example:hub:collector"
    )
    assert opcua.probe(equipment)[0] == Found("layer_temperature", "°C", 1601.5)

    equipment.result_source_secret = "wrong"
    equipment.save()
    with pytest.raises(SourceError) as refused:
        opcua.probe(equipment)
    configure(equipment, plant.url)  # no security: the server offers none
    with pytest.raises(SourceError) as plain:
        opcua.probe(equipment)
    assert str(refused.value) == str(opcua.SECURITY_REJECTED)
    assert str(plain.value) == (
        "The OPC UA server offers no endpoint with security policy None and mode None."
    )


def test_a_pinned_server_certificate_is_checked_before_the_login(hub, category, operator,
                                                                 tmp_path, secured_plant):
    """A secured source may pin the server's certificate (its SHA-256 fingerprint, as "test
    connection" shows it): the right one connects, for a probe and for the collector; any
    other is refused before the secure channel opens, so the login never reaches it — a
    wrong password then still gets the certificate's error, not the server's refusal."""
    plant = secured_plant
    real = sources.certificate_fingerprint((tmp_path / "server" / "server-cert.der")
                                           .read_bytes())
    equipment = configure(
        make_equipment(hub, category, slug="printer-pinned"), plant.url,
        security={"policy": "Basic256Sha256", "mode": "SignAndEncrypt"},
        username="operator", password="s3cret")
    # Not pinned: "test connection" shows what the server presented, to pin.
    check = check_result_source(equipment)
    assert (check.ok, check.server_certificate) == (True, real)
    answer = key_client(operator).post(
        f"/api/v1/equipment/{equipment.pk}/result-source/test/").json()
    assert answer["server_certificate"] == real
    assert answer["metrics"][0] == {"metric": "layer_temperature", "unit": "°C",
                                    "value": 1599.0}
    console = Client()
    console.force_login(MembershipFactory(organization=operator, role="operator",
                                          user=UserFactory(email="ops@op.example")).user)
    page = console.post(reverse("console:equipment-test", args=[equipment.pk]))
    assert real in page.content.decode()

    # Pinned, spelt any way (lower case, no colons): the machine is the one trusted.
    equipment.result_source_config["security"]["server_certificate"] = (
        real.replace(":", "").lower())
    equipment.full_clean()
    equipment.save()
    assert equipment.result_source_config["security"]["server_certificate"] == real
    assert opcua.probe(equipment)[0] == Found("layer_temperature", "°C", 1599.0)
    running = Running(equipment, MemorySink(equipment.pk))
    running.until(lambda: len(running.sink.readings) == 3, what="the current values")
    running.finish()

    # Pinned to another certificate (the machine's was not this one): refused first.
    impostor = sources.certificate_fingerprint(b"a certificate the machine never had")
    equipment.result_source_config["security"]["server_certificate"] = impostor
    equipment.result_source_secret = "wrong"
    equipment.save()
    with pytest.raises(SourceError) as refused:
        opcua.probe(equipment)
    check = check_result_source(equipment)
    assert str(refused.value) == str(opcua.CERTIFICATE_MISMATCH % {"presented": real})
    assert (check.ok, check.error) == (False, str(refused.value))


def deployment_certificate(folder, uri: str) -> tuple[str, str]:
    """A certificate and key of the deployment's own (as OPCUA_CLIENT_CERT/KEY name)."""
    folder.mkdir()
    key = cert_gen.generate_private_key()
    cert = cert_gen.generate_self_signed_app_certificate(
        key,
        uri,
        {},
        [x509.UniformResourceIdentifier(uri)],
        extended=[ExtendedKeyUsageOID.CLIENT_AUTH],
    )
    (folder / "cert.pem").write_bytes(cert.public_bytes(Encoding.PEM))
    (folder / "key.pem").write_bytes(cert_gen.dump_private_key_as_pem(key))
    return str(folder / "cert.pem"), str(folder / "key.pem")


def test_the_client_certificate_is_made_once_and_again_when_it_no_longer_fits(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    made = certificates.client_certificate()
    assert (made.cert, made.key) == (
        tmp_path / "opcua" / "client-cert.der",
        tmp_path / "opcua" / "client-key.pem",
    )
    assert (
        made.application_uri
        == "urn:testbed:collector"
        == certificates.application_uri(x509.load_der_x509_certificate(made.cert.read_bytes()))
    )
    assert stat.S_IMODE(made.key.stat().st_mode) == 0o600
    first = made.cert.read_bytes()
    assert certificates.client_certificate() == made and made.cert.read_bytes() == first

    made.key.write_bytes(cert_gen.dump_private_key_as_pem(cert_gen.generate_private_key()))
    certificates.client_certificate()  # the certificate no longer fits the key: both anew
    assert made.cert.read_bytes() != first
    assert certificates._usable(made.cert, made.key)

    settings.OPCUA_CLIENT_CERT, settings.OPCUA_CLIENT_KEY = deployment_certificate(
        tmp_path / "own", "urn:example:hub:collector"
    )
    assert certificates.client_certificate() == certificates.ClientCertificate(
        tmp_path / "own" / "cert.pem", tmp_path / "own" / "key.pem", "urn:example:hub:collector"
    )


def test_security_policy_the_server_lacks_is_named(shared_printer, shared_plant):
    configure(
        shared_printer, shared_plant.url, security={"policy": "Basic256Sha256", "mode": "Sign"}
    )
    with pytest.raises(SourceError) as caught:
        opcua.probe(shared_printer)
    assert str(caught.value) == (
        "The OPC UA server offers no endpoint with security policy Basic256Sha256 and mode Sign."
    )


# --- with the real collector ----------------------------------------------------------


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_booking_window_becomes_the_trial(hub, category, sme, operator, plant):
    equipment = configure(make_equipment(hub, category, slug="printer-e2e"), plant.url)
    booking = running_booking(equipment, sme, started=timedelta(minutes=20))
    start = booking.start
    plant.set_many({LAYER: 5.0, OXYGEN: 6.0}, ts=start - timedelta(seconds=1))
    plant.set(STATE, "Idle", ts=start - timedelta(minutes=2))

    def stored() -> int:
        return Observation.objects.filter(equipment=equipment).count()

    with collector(interval=0.1) as c:
        wait_for(lambda: stored() == 3, what="the current values (before the window)", timeout=20)
        first = datetime.now(UTC)
        plant.set_many({LAYER: 1610.0, OXYGEN: 390.5, STATE: "Running"}, ts=first)
        second = first + 250 * MS
        plant.set(LAYER, 1612.5, ts=second)
        wait_for(lambda: stored() == 7, what="four readings", timeout=20)

        plant.restart()
        restarted = datetime.now(UTC)
        wait_for(
            lambda: SourceGap.objects.filter(equipment=equipment).exists(),
            what="the gap",
            timeout=20,
        )
        third = datetime.now(UTC)
        plant.set(OXYGEN, 388.0, ts=third)
        wait_for(lambda: stored() == 8, what="the reading after the restart", timeout=20)

        assert c.flush()
        end = datetime.now(UTC)
        time.sleep(1.2)  # a batch after the end marks it stored
        plant.set(LAYER, 99.0)  # after the booking: not the trial's
        wait_for(lambda: stored() == 9, what="the reading after the booking", timeout=20)
    trial = finish(booking, operator, at=end)  # (SQLite: no writes beside the writer)

    assert trial.status == "collected"
    rows = list(
        Measurement.objects.filter(trial=trial)
        .order_by("ts", "metric__name")
        .values_list("ts", "metric__name", "value", "metric__unit")
    )
    assert rows == [
        (first, "layer_temperature", 1610.0, "°C"),
        (first, "oxygen_level", 390.5, "ppm"),
        (first, "state", 1.0, ""),
        (second, "layer_temperature", 1612.5, "°C"),
        (third, "oxygen_level", 388.0, "ppm"),
    ]
    [gap] = trial.gaps
    assert gap["reason"] == "disconnected"
    assert second <= datetime.fromisoformat(gap["start"]) <= restarted
    assert restarted <= datetime.fromisoformat(gap["end"]) <= third
    booking.refresh_from_db()
    assert booking.actual_start == first
