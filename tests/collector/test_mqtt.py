"""The MQTT driver and probe against real brokers: the shared Mosquitto (127.0.0.1:1883,
one unique topic per test) and, for logins and TLS, a private one started here.

What is proven: payloads become exactly the readings they carry; bad messages are
dropped without stopping the driver; a message is acknowledged only once stored (one
not stored comes again); the session outlives a stop (messages published meanwhile
arrive) until ``release()``; "test connection" names the metrics or says in our words
what failed; the connection goes to the address the outbound guard checked, with TLS
verified on the URL's host name."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.utils import timezone

from tests.benchmarks.bench_mqtt import free_port, mosquitto
from tests.fixtures.world import make_equipment
from trials.collector.base import Found, Reading
from trials.models import Measurement, Observation
from trials.plant.mqtt_publisher import (
    Publisher,
    publish_payloads,
    publish_readings,
    reading_payload,
    readings_payload,
)
from trials.sources import SourceError
from trials.sources import mqtt as source

from .sinks import MemorySink
from .support import collector, finish, running_booking, wait_for

BROKER = "mqtt://127.0.0.1:1883"
T0 = datetime(2026, 3, 2, 9, 30, tzinfo=dt.timezone(timedelta(hours=8)))


def mqtt_source(equipment, *, url: str = BROKER, secret: str = "", **config) -> str:
    """Point ``equipment`` at an MQTT source on a fresh topic; returns the topic prefix
    (the filter is ``<prefix>/#``)."""
    prefix = f"testbed-test/{uuid.uuid4().hex[:12]}"
    equipment.result_source_kind = "mqtt"
    equipment.result_source_url = url
    equipment.result_source_secret = secret
    equipment.result_source_config = {"topic": f"{prefix}/#", **config}
    equipment.full_clean()  # the configuration is valid as the operator would give it
    equipment.save()
    return prefix


@pytest.fixture
def robot(hub, category):
    """An equipment with a fresh session on the broker (left by no earlier run)."""
    equipment = make_equipment(hub, category, "robot-1")
    yield equipment
    forget_session(equipment)


def forget_session(equipment) -> None:
    """Drop whatever session the broker keeps for the equipment's client id."""
    client = paho.Client(
        paho.CallbackAPIVersion.VERSION2,
        client_id=f"testbed-eq-{equipment.pk}",
        protocol=paho.MQTTv5,
    )
    client.connect("127.0.0.1", 1883, clean_start=True)
    client.loop_start()
    wait_for(client.is_connected)
    client.disconnect()
    client.loop_stop()


class Running:
    """A driver running in a thread, with the sink it writes to."""

    def __init__(self, equipment, sink: MemorySink | None = None):
        self.sink = sink or MemorySink(equipment.pk, held_since=datetime.now(UTC))
        self.stop = threading.Event()
        self.driver = source.Driver(equipment, self.sink, self.stop)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            self.driver.run()
        except BaseException as exc:  # noqa: BLE001 - the test looks at it
            self.error = exc

    def __enter__(self) -> Running:
        self.thread.start()
        wait_for(lambda: self.driver.subscribed.is_set() or self.error is not None)
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(10)
        assert not self.thread.is_alive()

    def wait_readings(self, count: int, timeout: float = 10.0) -> list[Reading]:
        wait_for(lambda: len(self.sink.readings) >= count, timeout)
        time.sleep(0.2)  # anything more would show now
        return self.sink.readings


# --- payloads to readings ------------------------------------------------------------------


def test_single_reading_payloads_become_exact_readings(robot):
    prefix = mqtt_source(robot)
    with Running(robot) as run:
        publish_payloads(
            BROKER,
            f"{prefix}/cell/spindle_load",
            [
                reading_payload(T0, "spindle_load", 61.2, "%"),
                b'{"ts": "2026-03-02T09:30:01+08:00", "metric": "vibration_rms", "value": 1.8}',
                # no metric: the topic's last level names it; a number as text is a number
                b'{"ts": "2026-03-02T01:30:02Z", "value": "62.5", "unit": "%"}',
            ],
        )
        readings = run.wait_readings(3)
    assert readings == [
        Reading(T0, "spindle_load", 61.2, "%"),
        Reading(T0 + timedelta(seconds=1), "vibration_rms", 1.8, ""),
        Reading(T0 + timedelta(seconds=2), "spindle_load", 62.5, "%"),
    ]
    assert readings[2].ts.utcoffset() == timedelta(0)  # the source's own timestamp, as sent
    assert run.sink.gaps == [] and run.error is None


def test_several_readings_at_one_time(robot):
    prefix = mqtt_source(robot)
    with Running(robot) as run:
        publish_payloads(
            BROKER,
            f"{prefix}/cell",
            [
                readings_payload(
                    T0,
                    {"spindle_load": 61.2, "vibration_rms": 1.8, "coolant": 0},
                    {"spindle_load": "%", "vibration_rms": "mm/s"},
                )
            ],
        )
        readings = run.wait_readings(3)
    assert readings == [
        Reading(T0, "spindle_load", 61.2, "%"),
        Reading(T0, "vibration_rms", 1.8, "mm/s"),
        Reading(T0, "coolant", 0.0, ""),
    ]


BAD = [
    b"not json",
    b"\xff\xfe",
    b"[1, 2]",
    b'{"metric": "spindle_load", "value": 1}',  # no timestamp
    b'{"ts": "2026-03-02T09:30:00", "metric": "spindle_load", "value": 1}',  # no offset
    b'{"ts": "yesterday", "metric": "spindle_load", "value": 1}',
    b'{"ts": "2026-03-02T09:30:00+08:00", "metric": "spindle_load", "value": NaN}',
    b'{"ts": "2026-03-02T09:30:00+08:00", "metric": "spindle_load", "value": "high"}',
    b'{"ts": "2026-03-02T09:30:00+08:00", "metric": "spindle_load", "value": true}',
    b'{"ts": "2026-03-02T09:30:00+08:00", "metric": "spindle_load"}',
    b'{"ts": "2026-03-02T09:30:00+08:00", "metric": "' + b"m" * 65 + b'", "value": 1}',
    b'{"ts": "2026-03-02T09:30:00+08:00", "metric": "a", "value": 1, "unit": "' + b"u" * 17 + b'"}',
    b'{"ts": "2026-03-02T09:30:00+08:00", "values": [1, 2]}',
    b'{"ts": "2026-03-02T09:30:00+08:00", "values": {}}',
    b'{"ts": "2026-03-02T09:30:00+08:00", "values": {"a": 1, "b": "x"}}',
    b"[" * 100_000,
]


def test_bad_messages_are_dropped_and_the_driver_carries_on(robot, caplog):
    prefix = mqtt_source(robot)
    with Running(robot) as run:
        publish_payloads(
            BROKER,
            f"{prefix}/cell/spindle_load",
            [*BAD, reading_payload(T0, "spindle_load", 61.2, "%")],
        )
        assert run.wait_readings(1) == [Reading(T0, "spindle_load", 61.2, "%")]
        assert run.thread.is_alive() and run.error is None
    # One warning (rate-limited), in the log for staff.
    warnings = [
        r
        for r in caplog.records
        if r.name == "trials.sources.mqtt" and "invalid message" in r.getMessage()
    ]
    assert len(warnings) == 1
    # The bad messages were acknowledged (dropped for good): nothing comes again.
    with Running(robot) as again:
        time.sleep(0.5)
    assert again.sink.readings == []


def test_state_metric_is_stored_as_state(robot):
    prefix = mqtt_source(robot, state_metric="execution")
    with Running(robot) as run:
        publish_payloads(
            BROKER,
            f"{prefix}/cell",
            [
                reading_payload(T0, "execution", "ACTIVE"),
                reading_payload(T0 + timedelta(seconds=1), "execution", False),
                readings_payload(
                    T0 + timedelta(seconds=2),
                    {"execution": 1, "spindle_load": 50},
                    {"spindle_load": "%"},
                ),
                reading_payload(T0 + timedelta(seconds=3), "execution", "READY"),
                reading_payload(T0 + timedelta(seconds=4), "execution", "UNAVAILABLE"),  # dropped
            ],
        )
        readings = run.wait_readings(5)
    assert readings == [
        Reading(T0, "state", 1.0, ""),
        Reading(T0 + timedelta(seconds=1), "state", 0.0, ""),
        Reading(T0 + timedelta(seconds=2), "state", 1.0, ""),
        Reading(T0 + timedelta(seconds=2), "spindle_load", 50.0, "%"),
        Reading(T0 + timedelta(seconds=3), "state", 0.0, ""),
    ]


# --- acknowledgement, session, release ---------------------------------------------------------


class UnstoredSink(MemorySink):
    """A writer that never gets to commit (the collector is killed first)."""

    def write(self, readings, *, state=None, on_stored=None) -> None:
        super().write(readings, state=state, on_stored=None)


def test_a_message_not_stored_is_delivered_again(robot):
    prefix = mqtt_source(robot)
    sent = [(T0 + timedelta(seconds=i), "spindle_load", 60.0 + i, "%") for i in range(5)]
    unstored = UnstoredSink(robot.pk, held_since=datetime.now(UTC))
    with Running(robot, unstored) as first:
        publish_readings(BROKER, f"{prefix}/cell", sent)
        assert len(first.wait_readings(5)) == 5
    with Running(robot) as second:  # the next connection, as after a SIGKILL
        readings = second.wait_readings(5)
    assert readings == [Reading(*r) for r in sent]
    assert second.sink.gaps == []
    with Running(robot) as third:  # acknowledged now: not again
        time.sleep(0.5)
    assert third.sink.readings == []


def test_session_outlives_a_stop_until_released(robot):
    prefix = mqtt_source(robot)
    with Running(robot):
        pass  # connect, subscribe and stop: the session is what is under test
    # Nobody connected: the broker keeps the messages for the equipment's session.
    publish_readings(BROKER, f"{prefix}/cell", [(T0, "spindle_load", 61.0, "%")])
    with Running(robot) as resumed:
        assert resumed.wait_readings(1) == [Reading(T0, "spindle_load", 61.0, "%")]
    assert resumed.sink.gaps == []
    resumed.driver.release()
    publish_readings(BROKER, f"{prefix}/cell", [(T0, "spindle_load", 62.0, "%")])
    with Running(robot) as fresh:
        time.sleep(0.5)
    assert fresh.sink.readings == []  # the session was dropped: nothing was kept


def test_no_session_after_an_earlier_holder_is_a_gap(robot):
    """The broker kept nothing (the session was released or expired) while a collector
    held the equipment before: what was published meanwhile is lost, and said so."""
    mqtt_source(robot)
    last_held = datetime.now(UTC) - timedelta(minutes=3)
    sink = MemorySink(robot.pk, held_since=datetime.now(UTC), last_held=last_held)
    with Running(robot, sink):
        pass  # connect, subscribe and stop: the session is what is under test
    assert len(sink.gaps) == 1
    gap = sink.gaps[0]
    assert (gap.start, gap.reason) == (last_held, "collector_down")
    assert timedelta(0) < gap.end - sink.held_since() < timedelta(seconds=5)
    # With the session kept, the next connection records nothing.
    with Running(robot, sink):
        pass  # connect, subscribe and stop: the session is what is under test
    assert len(sink.gaps) == 1


# --- probe ("test connection") ------------------------------------------------------------------


def test_probe_finds_the_published_metrics(robot):
    prefix = mqtt_source(robot, state_metric="state")
    publisher = Publisher(BROKER, f"{prefix}/robot-1", interval=0.1).start()
    try:
        found = source.probe(robot, timeout=5)
    finally:
        publisher.stop()
    assert [(f.metric, f.unit) for f in found] == [
        ("cycle_time", "s"),
        ("motor_temperature", "°C"),
        ("position_error", "mm"),
        ("state", ""),
    ]
    assert all(isinstance(f, Found) and f.value is not None for f in found)
    assert found[3].value == 1.0  # the robot starts with a program run
    assert 5 < found[0].value < 20  # a robot's cycle time (demo model: 12.4 s ± drift)


def test_probe_says_when_nothing_arrives(robot):
    mqtt_source(robot)
    with pytest.raises(SourceError) as caught:
        source.probe(robot, timeout=1)
    assert str(caught.value) == str(source.NO_MESSAGE) % {"seconds": "1"}


def test_probe_says_when_only_garbage_arrives(robot):
    prefix = mqtt_source(robot)
    publish_payloads(BROKER, f"{prefix}/x", [b"not json"], retain=True)
    try:
        with pytest.raises(SourceError) as caught:
            source.probe(robot, timeout=3)
    finally:
        publish_payloads(BROKER, f"{prefix}/x", [b""], retain=True)  # clears the retained one
    assert str(caught.value) == str(source.NO_READING)


def test_probe_on_a_port_with_nothing(robot):
    mqtt_source(robot, url=f"mqtt://127.0.0.1:{free_port()}")
    with pytest.raises(SourceError) as caught:
        source.probe(robot, timeout=3)
    assert str(caught.value) == str(source.UNREACHABLE)


def test_outbound_guard_refuses_before_connecting(robot, settings):
    mqtt_source(robot)
    settings.OUTBOUND_ALLOWED_NETWORKS = []  # loopback is internal: refused
    with pytest.raises(SourceError) as caught:
        source.probe(robot, timeout=3)
    assert str(caught.value) == str(source.OUTBOUND_REFUSED)
    with pytest.raises(SourceError):
        source.Driver(robot, MemorySink(robot.pk, datetime.now(UTC)), threading.Event()).run()


# --- private broker: logins and TLS -------------------------------------------------------------


def _certificates() -> dict[str, bytes]:
    """A CA and a server certificate for the name broker.test (not for 127.0.0.1)."""
    now = datetime.now(UTC)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("Testbed test CA"))
        .issuer_name(name("Testbed test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name("broker.test"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("broker.test")]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    return {
        "ca.pem": ca.public_bytes(pem),
        "server.pem": cert.public_bytes(pem),
        "server.key": key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
    }


@pytest.fixture(scope="module")
def private_broker():
    """Port ``login`` wants user plant / password s3cret; port ``tls`` speaks TLS only
    with a certificate for broker.test. Yields (login port, tls port, CA file)."""
    login, tls = free_port(), free_port()
    config = "\n".join(
        [
            "per_listener_settings true",
            "persistence false",
            "log_dest stdout",
            f"listener {login} 127.0.0.1",
            "allow_anonymous false",
            "password_file {dir}/passwords",
            f"listener {tls} 127.0.0.1",
            "allow_anonymous true",
            "cafile {dir}/ca.pem",
            "certfile {dir}/server.pem",
            "keyfile {dir}/server.key",
            "",
        ]
    )
    files = {**_certificates(), "passwords": _passwords()}
    with mosquitto(config, [login, tls], files=files) as workdir:
        yield login, tls, str(workdir / "ca.pem")


def _passwords() -> bytes:
    """A mosquitto password file with plant:s3cret (hashed by mosquitto_passwd)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "passwords"
        subprocess.run(
            ["mosquitto_passwd", "-c", "-b", str(path), "plant", "s3cret"],
            check=True,
            capture_output=True,
            timeout=10,
        )
        return path.read_bytes()


def test_probe_with_a_login(robot, private_broker):
    login, _tls, _ca = private_broker
    prefix = mqtt_source(robot, url=f"mqtt://127.0.0.1:{login}", username="plant", secret="wrong")
    with pytest.raises(SourceError) as caught:
        source.probe(robot, timeout=3)
    assert str(caught.value) == str(source.LOGIN_REFUSED)

    robot.result_source_secret = "s3cret"
    publisher = Publisher(
        f"mqtt://plant:s3cret@127.0.0.1:{login}", f"{prefix}/r", interval=0.1
    ).start()
    try:
        found = source.probe(robot, timeout=5)
    finally:
        publisher.stop()
    assert {f.metric for f in found} == {
        "cycle_time",
        "motor_temperature",
        "position_error",
        "state",
    }


def test_driver_with_a_wrong_password_stops_with_a_source_error(robot, private_broker):
    login, _tls, _ca = private_broker
    mqtt_source(robot, url=f"mqtt://127.0.0.1:{login}", username="plant", secret="wrong")
    with Running(robot) as run:
        wait_for(lambda: not run.thread.is_alive())
    assert isinstance(run.error, SourceError)
    assert str(run.error) == str(source.LOGIN_REFUSED)


@pytest.fixture
def resolver(monkeypatch):
    """``broker.test`` and ``other.test`` resolve to 127.0.0.1, as a DNS would say; counts
    the look-ups."""
    real = socket.getaddrinfo
    lookups: list[str] = []

    def getaddrinfo(host, port, *args, **kwargs):
        if host in ("broker.test", "other.test"):
            lookups.append(host)
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return lookups


def test_tls_is_verified_on_the_url_host_name(robot, private_broker, resolver, settings):
    login, tls, ca = private_broker
    settings.OUTBOUND_CA_BUNDLE = ca
    prefix = mqtt_source(robot, url=f"mqtts://broker.test:{tls}")
    publish_payloads(
        f"mqtt://plant:s3cret@127.0.0.1:{login}",
        f"{prefix}/spindle_load",
        [reading_payload(T0, "spindle_load", 61.2, "%")],
        retain=True,
    )
    resolver.clear()
    assert source.probe(robot, timeout=5) == [Found("spindle_load", "%", 61.2)]
    # The name was looked up once (by the outbound guard); the connection went to the
    # address it checked, and the certificate was verified against the name.
    assert resolver == ["broker.test"]

    robot.result_source_url = f"mqtts://other.test:{tls}"  # same broker, wrong name
    with pytest.raises(SourceError) as caught:
        source.probe(robot, timeout=5)
    assert str(caught.value) == str(source.TLS_FAILED)

    robot.result_source_url = f"mqtts://broker.test:{login}"  # not TLS on that port
    with pytest.raises(SourceError) as caught:
        source.probe(robot, timeout=5)
    assert str(caught.value) in (
        str(source.TLS_FAILED),
        str(source.CLOSED),
        str(source.UNREACHABLE),
    )


def test_the_connection_goes_to_the_checked_address_only():
    dest = source.outbound.Destination(
        "mqtt", "nowhere.invalid", 1883, (ipaddress.ip_address("127.0.0.1"),)
    )
    conn = source.open_connection(dest)  # a look-up of the name would fail
    try:
        assert (
            conn.connect(f"testbed-pin-{uuid.uuid4().hex[:6]}", clean_start=True, session_expiry=0)
            is False
        )
    finally:
        conn.disconnect()


# --- end to end: through the collector into the trial ------------------------------------


@pytest.mark.django_db(transaction=True)
def test_readings_published_in_the_booking_window_become_the_trial(robot, sme, operator):
    prefix = mqtt_source(robot, state_metric="state")
    booking = running_booking(robot, sme, started=timedelta(minutes=10))
    start = booking.start
    inside = [(start + timedelta(seconds=30 * i), "spindle_load", 60.0 + i, "%") for i in range(8)]
    states = [
        (start + timedelta(minutes=1), "state", 1.0, ""),
        (start + timedelta(minutes=5), "state", 0.0, ""),
    ]
    before = [
        (start - timedelta(hours=1), "spindle_load", 98.0, "%"),
        (start - timedelta(seconds=1), "spindle_load", 99.0, "%"),
    ]
    with collector("window") as c:
        wait_for(
            lambda: (
                robot.pk in c.held
                and c.held[robot.pk].driver is not None
                and c.held[robot.pk].driver.subscribed.is_set()
            )
        )
        end = timezone.now().replace(microsecond=0)
        after = [(end, "spindle_load", 97.0, "%"), (end + timedelta(minutes=2), "state", 1.0, "")]
        publish_readings(BROKER, f"{prefix}/cell", before + inside + states + after)
        wait_for(lambda: Observation.objects.filter(equipment=robot).count() == 14)
        assert c.flush()
        time.sleep(1.2)  # a batch after the end marks everything before it stored
    trial = finish(booking, operator, at=end)  # (SQLite: no writes beside the writer)
    assert trial.status == "collected", trial.last_error
    stored = list(
        Measurement.objects.filter(trial=trial)
        .order_by("ts", "metric__name")
        .values_list("ts", "metric__name", "value", "metric__unit")
    )
    assert stored == sorted(inside + states, key=lambda r: (r[0], r[1]))
    assert trial.measurement_count == 10 and trial.gaps == []
    booking.refresh_from_db()
    assert booking.actual_start == start + timedelta(minutes=1)  # the state signal: usage
    assert booking.actual_seconds == 4 * 60


def test_an_idle_connection_pings_and_hears_back():
    """With nothing to send, the connection pings every 3/4 keep-alive period (the broker
    may drop a client silent for 1.5 periods) and hears the broker answer."""
    dest = source.outbound.Destination(
        "mqtt", "localhost", 1883, (ipaddress.ip_address("127.0.0.1"),)
    )
    conn = source.open_connection(dest)
    conn.keepalive = 1
    try:
        conn.connect(f"testbed-ping-{uuid.uuid4().hex[:6]}", clean_start=True, session_expiry=0)
        deadline = time.monotonic() + 2.8
        while time.monotonic() < deadline:
            assert conn.receive(0.05) == []
            conn.keep_alive()
        assert conn.pongs >= 3
    finally:
        conn.disconnect()
