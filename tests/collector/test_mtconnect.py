"""The MTConnect source against the agent simulator over real HTTP on loopback: readings
exactly as the agent numbered and timed them, the cursor resumed after a collector
restart, an agent restart and a buffer overflow recorded as gaps, connection cuts
survived without loss, "test connection", hostile answers refused — and, with the real
collector, a booking's window turned into exactly the trial's measurements."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from tests.faults.proxy import TcpProxy
from tests.fixtures.peers import Reply
from tests.fixtures.world import make_equipment
from trials.collector.base import Found, Reading
from trials.models import Measurement, Observation, SourceGap, SourceState
from trials.plant.mtconnect_agent import CncCell, MTConnectAgent
from trials.sources import SourceError, mtconnect

from .sinks import MemorySink
from .support import collector, finish, running_booking, wait_for

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<MTConnectDevices xmlns="urn:mtconnect.org:MTConnectDevices:2.0"><Header instanceId="1"/>
<Devices><Device id="d" name="cnc-1"><DataItems><DataItem id="x" name="&lol9;"
 category="SAMPLE" type="LOAD" units="PERCENT"/></DataItems></Device></Devices>
</MTConnectDevices>"""

# Every numeric SAMPLE of the simulated CNC, as the driver maps it without data_items.
DEFAULT_METRICS = {
    "Xpos": ("x_position", "mm"),
    "Srpm": ("spindle_speed", "rpm"),
    "Sload": ("spindle_load", "%"),
    "Stemp": ("spindle_temperature", "°C"),
    "vib": ("vibration_rms", "mm/s"),
    "power": ("power", "W"),
}


@pytest.fixture
def agent():
    running = MTConnectAgent(buffer_size=1024).start()
    yield running
    running.stop()


@pytest.fixture
def small_agent():
    """An agent whose buffer holds 16 observations (it starts with 11 UNAVAILABLE ones)."""
    running = MTConnectAgent(buffer_size=16).start()
    yield running
    running.stop()


def mtconnect_equipment(hub, category, url: str, slug: str = "mtc-1", **config):
    equipment = make_equipment(hub, category, slug)
    equipment.result_source_kind = "mtconnect"
    equipment.result_source_url = url
    equipment.result_source_config = {
        "device": "cnc-1",
        "state_item": "exec",
        "poll_ms": 100,
        **config,
    }
    equipment.full_clean()
    equipment.save()
    return equipment


@pytest.fixture
def equipment(hub, category, agent):
    return mtconnect_equipment(hub, category, agent.url)


@contextlib.contextmanager
def driving(equipment, sink: MemorySink):
    """The driver running in a thread for the block; it must stop promptly after."""
    stop = threading.Event()
    driver = mtconnect.Driver(equipment, sink, stop)
    failure: list[BaseException] = []

    def run():
        try:
            driver.run()
        except BaseException as exc:  # noqa: BLE001 - reported to the test below
            failure.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield driver
    finally:
        stop.set()
        thread.join(5)
    assert not thread.is_alive(), "the driver did not stop"
    assert not failure, failure


def at(seconds: float) -> datetime:
    """A moment of the machine's past (before any agent start in the test)."""
    return datetime(2024, 5, 6, 8, 0, tzinfo=UTC) + timedelta(seconds=seconds)


def started(sink: MemorySink, agent: MTConnectAgent) -> None:
    """Wait until the driver took up its cursor at the agent."""
    wait_for(lambda: sink.state().get("instance_id") == str(agent.instance_id))


# --- configuration and the driver's readings ---------------------------------------------------


def test_configuration_is_normalised(equipment, agent):
    assert equipment.result_source_config == {
        "device": "cnc-1",
        "state_item": "exec",
        "poll_ms": 100,
        "data_items": {},
    }


def test_added_observations_become_exact_readings(equipment, agent):
    sink = MemorySink(equipment.pk)
    with driving(equipment, sink):
        started(sink, agent)
        assert sink.state()["next"] == agent.next_sequence == 12  # 11 UNAVAILABLE first
        added = [
            ("Sload", 61.2, at(0)),
            ("Srpm", 8000, at(0)),
            ("program", "O1001", at(1)),
            ("exec", "ACTIVE", at(1)),
            ("vib", 1.75, at(2)),
            ("Xpos", -12.5, at(2)),
            ("Sload", "UNAVAILABLE", at(3)),
            ("exec", "FEED_HOLD", at(4)),
            ("Stemp", 31.4, at(5)),
        ]
        seqs = [agent.add(item, value, ts) for item, value, ts in added]
        wait_for(lambda: sink.state()["next"] == agent.next_sequence)
    assert seqs == list(range(12, 21))
    assert sink.readings == [
        Reading(at(0), "spindle_load", 61.2, "%", 12),
        Reading(at(0), "spindle_speed", 8000.0, "rpm", 13),
        Reading(at(1), "state", 1.0, "", 15),
        Reading(at(2), "vibration_rms", 1.75, "mm/s", 16),
        Reading(at(2), "x_position", -12.5, "mm", 17),
        Reading(at(4), "state", 0.0, "", 19),
        Reading(at(5), "spindle_temperature", 31.4, "°C", 20),
    ]
    assert sink.gaps == []
    assert sink.state() == {
        "instance_id": str(agent.instance_id),
        "next": 21,
        "last_ts": at(5).isoformat(),
    }


def test_configured_data_items_only(hub, category, agent):
    equipment = mtconnect_equipment(
        hub,
        category,
        agent.url,
        state_item="",
        data_items={"Sload": {"metric": "load"}, "pcount": {"metric": "parts", "unit": "pcs"}},
    )
    sink = MemorySink(equipment.pk)
    with driving(equipment, sink):
        started(sink, agent)
        agent.add("Sload", 55.5, at(0))
        agent.add("Srpm", 7000, at(0))
        agent.add("exec", "ACTIVE", at(0))
        agent.add("pcount", 3, at(1))
        wait_for(lambda: sink.state()["next"] == agent.next_sequence)
    assert sink.readings == [
        Reading(at(0), "load", 55.5, "%", 12),
        Reading(at(1), "parts", 3.0, "pcs", 15),
    ]


def test_takeover_records_the_machine_state_it_finds(equipment, agent):
    seq = agent.add("exec", "ACTIVE", at(0))
    sink = MemorySink(equipment.pk)
    with driving(equipment, sink):
        started(sink, agent)
    assert sink.readings == [Reading(at(0), "state", 1.0, "", seq)]


def test_a_full_answer_is_followed_at_once_by_the_next_poll(hub, category):
    agent = MTConnectAgent(buffer_size=4096).start()
    try:
        equipment = mtconnect_equipment(hub, category, agent.url, poll_ms=60_000)
        cursor = {"instance_id": str(agent.instance_id), "next": agent.next_sequence}
        agent.add_many(("Sload", i, at(i)) for i in range(2500))
        sink = MemorySink(equipment.pk, state=cursor)
        with driving(equipment, sink):
            wait_for(lambda: len(sink.readings) == 2500, timeout=10)
            assert sink.state()["next"] == agent.next_sequence
    finally:
        agent.stop()
    assert [r.value for r in sink.readings] == [float(i) for i in range(2500)]
    samples = [path for path in agent.requests if path.startswith("/cnc-1/sample")]
    assert samples == [
        "/cnc-1/sample?from=12&count=1000",
        "/cnc-1/sample?from=1012&count=1000",
        "/cnc-1/sample?from=2012&count=1000",
    ]


def test_the_simulated_machine_cuts_and_changes_parts(equipment, agent):
    """What the demo plant shows: cutting (ACTIVE, spindle at speed, load and vibration)
    and part changes (READY, spindle stopped), every sample in its unit."""
    sink = MemorySink(equipment.pk)
    with driving(equipment, sink):
        started(sink, agent)
        agent.run_machine(interval=0.005)
        wait_for(
            lambda: [r.value for r in sink.readings if r.metric == "state"][:3] == [1.0, 0.0, 1.0]
        )
        agent.stop_machine()
    by_metric: dict[str, list[Reading]] = {}
    for reading in sink.readings:
        by_metric.setdefault(reading.metric, []).append(reading)
    assert set(by_metric) == {"state", *(m for m, _unit in DEFAULT_METRICS.values())}
    assert {(r.metric, r.unit) for r in sink.readings} == {("state", ""), *DEFAULT_METRICS.values()}
    speeds = {round(r.value, -3) for r in by_metric["spindle_speed"]}
    assert speeds == {0.0, 8000.0}
    assert all(0 <= r.value <= 100 for r in by_metric["spindle_load"])
    cut = [r.value for r in by_metric["spindle_load"][: CncCell.CUT]]
    assert 40 < sum(cut) / len(cut) < 85  # the demo gateway's CNC load, 62 % ± drift
    seqs = [r.seq for r in sink.readings]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


# --- collector restarts, agent restarts, overflow, connection cuts ------------------------------


def test_a_collector_restart_resumes_from_the_stored_cursor(equipment, agent):
    sink = MemorySink(equipment.pk)
    with driving(equipment, sink):
        started(sink, agent)
        first = agent.add("Sload", 10.0, at(0))
        wait_for(lambda: len(sink.readings) == 1)
    # No collector: the agent's buffer keeps what comes meanwhile.
    missed = [agent.add("Sload", 11.0 + i, at(1 + i)) for i in range(5)]
    resumed = MemorySink(equipment.pk, state=sink.state())
    with driving(equipment, resumed):
        wait_for(lambda: len(resumed.readings) == 5)
        last = agent.add("Sload", 20.0, at(10))
        wait_for(lambda: len(resumed.readings) == 6)
    assert [r.seq for r in sink.readings + resumed.readings] == [first, *missed, last]
    assert [r.value for r in resumed.readings] == [11.0, 12.0, 13.0, 14.0, 15.0, 20.0]
    assert resumed.gaps == []


def test_agent_restart_is_a_gap_and_collection_continues(equipment, agent):
    sink = MemorySink(equipment.pk)
    with driving(equipment, sink):
        started(sink, agent)
        agent.add("Sload", 40.0, at(0))
        wait_for(lambda: len(sink.readings) == 1)
        old_instance = agent.instance_id
        probes = sum(path.endswith("/probe") for path in agent.requests)
        agent.restart()
        restarted_at = agent.buffered()[0].ts  # the UNAVAILABLE observations of the start
        seq = agent.add("Sload", 41.0, at(60))
        wait_for(lambda: len(sink.readings) == 2)
    assert agent.instance_id != old_instance
    assert seq == 12  # sequences start again at 1 in the new instance
    assert sum(path.endswith("/probe") for path in agent.requests) == probes + 1
    assert sink.readings[1] == Reading(at(60), "spindle_load", 41.0, "%", 12)
    assert len(sink.gaps) == 1
    gap = sink.gaps[0]
    assert (gap.start, gap.end, gap.reason) == (at(0), restarted_at, "agent_restart")
    assert sink.state()["instance_id"] == str(agent.instance_id)


def test_agent_restart_while_no_collector_ran(equipment, agent):
    sink = MemorySink(equipment.pk)
    with driving(equipment, sink):
        started(sink, agent)
        agent.add("Sload", 40.0, at(0))
        wait_for(lambda: len(sink.readings) == 1)
    agent.restart()
    restarted_at = agent.buffered()[0].ts
    agent.add("Sload", 42.0, at(30))
    resumed = MemorySink(equipment.pk, state=sink.state())
    with driving(equipment, resumed):
        wait_for(lambda: len(resumed.readings) == 1)
    assert resumed.readings == [Reading(at(30), "spindle_load", 42.0, "%", 12)]
    assert [(g.start, g.end, g.reason) for g in resumed.gaps] == [
        (at(0), restarted_at, "agent_restart")
    ]


def test_buffer_overflow_is_a_gap_with_its_bounds(hub, category, small_agent):
    equipment = mtconnect_equipment(hub, category, small_agent.url)
    sink = MemorySink(equipment.pk)
    with driving(equipment, sink):
        started(sink, small_agent)
        small_agent.add("Sload", 1.0, at(0))
        wait_for(lambda: len(sink.readings) == 1)
    # The collector is away while 40 observations arrive: the 16-slot buffer overflows.
    added = [small_agent.add("Sload", 100.0 + i, at(10 + i)) for i in range(40)]
    resumed = MemorySink(equipment.pk, state=sink.state())
    with driving(equipment, resumed):
        wait_for(lambda: resumed.state().get("next") == small_agent.next_sequence)
    kept = added[-16:]
    assert [r.seq for r in resumed.readings] == kept
    assert [r.value for r in resumed.readings] == [100.0 + i for i in range(24, 40)]
    assert len(resumed.gaps) == 1
    gap = resumed.gaps[0]
    assert (gap.start, gap.end, gap.reason) == (at(0), at(34), "buffer_overflow")
    assert gap.detail == "24 observations lost (sequences 13 to 36)"


def test_connection_cuts_lose_nothing_the_buffer_keeps(hub, category, small_agent):
    proxy = TcpProxy("127.0.0.1", int(small_agent.url.rsplit(":", 1)[1]))
    equipment = mtconnect_equipment(hub, category, f"http://127.0.0.1:{proxy.port}")
    sink = MemorySink(equipment.pk)
    try:
        with driving(equipment, sink):
            started(sink, small_agent)
            proxy.refuse()
            during = [small_agent.add("Sload", 50.0 + i, at(i)) for i in range(3)]
            time.sleep(1.5)  # at least one failed poll, then backoff
            proxy.accept()
            wait_for(lambda: len(sink.readings) == 3)
            assert sink.gaps == []
            # Cut again, long enough for the buffer to overflow: the gap is recorded once
            # the agent is reachable again.
            proxy.refuse()
            lost = [small_agent.add("Sload", 70.0 + i, at(10 + i)) for i in range(20)]
            time.sleep(1.5)
            proxy.accept()
            wait_for(lambda: sink.state()["next"] == small_agent.next_sequence)
    finally:
        proxy.refuse()
    assert [r.seq for r in sink.readings[:3]] == during
    assert [r.seq for r in sink.readings[3:]] == lost[-16:]
    assert [(g.start, g.end, g.reason) for g in sink.gaps] == [(at(2), at(14), "buffer_overflow")]


# --- "test connection" ------------------------------------------------------------------------


def test_probe_finds_the_metrics_and_their_latest_values(equipment, agent):
    agent.add("Sload", 61.2, at(0))
    agent.add("vib", 1.8, at(0))
    agent.add("exec", "ACTIVE", at(0))
    found = mtconnect.probe(equipment)
    assert found == [
        Found("x_position", "mm", None),
        Found("spindle_speed", "rpm", None),
        Found("spindle_load", "%", 61.2),
        Found("spindle_temperature", "°C", None),
        Found("vibration_rms", "mm/s", 1.8),
        Found("power", "W", None),
        Found("state", "", 1.0),
    ]
    assert {f.metric: f.unit for f in found[:-1]} == dict(DEFAULT_METRICS.values())


def test_probe_of_the_whole_agent_without_a_device(hub, category, agent):
    equipment = mtconnect_equipment(hub, category, agent.url + "/", device="", state_item="")
    assert [f.metric for f in mtconnect.probe(equipment)] == [
        m for m, _unit in DEFAULT_METRICS.values()
    ]
    assert list(agent.requests)[-2:] == ["/probe", "/current"]


def test_probe_of_an_unknown_device(hub, category, agent):
    equipment = mtconnect_equipment(hub, category, agent.url, device="lathe-9")
    with pytest.raises(SourceError) as caught:
        mtconnect.probe(equipment)
    assert str(caught.value) == "The MTConnect agent has no device lathe-9."


def test_probe_of_unknown_data_items(hub, category, agent):
    equipment = mtconnect_equipment(
        hub,
        category,
        agent.url,
        state_item="Exec",
        data_items={"Sload": {"metric": "load"}, "S2load": {"metric": "load2"}},
    )
    with pytest.raises(SourceError) as caught:
        mtconnect.probe(equipment)
    assert str(caught.value) == (
        "The agent's device has no DataItem Exec, S2load (see the "
        "source's data_items and state_item)."
    )


def test_probe_of_something_that_is_not_an_agent(hub, category, gateway):
    gateway.reply(Reply(body=b"timestamp,metric,value,unit\n"))
    equipment = mtconnect_equipment(hub, category, gateway.url)
    with pytest.raises(SourceError) as caught:
        mtconnect.probe(equipment)
    assert str(caught.value) == str(mtconnect.NOT_MTCONNECT)
    assert gateway.requests[0]["path"] == "/results/cnc-1/probe"


def test_probe_of_an_agent_failing(hub, category, gateway):
    gateway.reply(Reply(status=503, body=b"<html>maintenance</html>"))
    equipment = mtconnect_equipment(hub, category, gateway.url)
    with pytest.raises(SourceError) as caught:
        mtconnect.probe(equipment)
    assert str(caught.value) == "The MTConnect agent failed on its side (HTTP 503)."


def test_probe_of_nothing_listening(hub, category):
    with socket.socket() as spare:
        spare.bind(("127.0.0.1", 0))
        port = spare.getsockname()[1]
    equipment = mtconnect_equipment(hub, category, f"http://127.0.0.1:{port}")
    with pytest.raises(SourceError) as caught:
        mtconnect.probe(equipment, timeout=2)
    assert str(caught.value) == str(mtconnect.UNREACHABLE)


def test_probe_refused_by_the_outbound_guard(equipment, settings):
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    with pytest.raises(SourceError) as caught:
        mtconnect.probe(equipment)
    assert str(caught.value) == str(mtconnect.REFUSED)


def test_hostile_xml_is_refused_unexpanded(hub, category, gateway):
    gateway.reply(Reply(body=BILLION_LAUGHS, content_type="text/xml"))
    equipment = mtconnect_equipment(hub, category, gateway.url)
    begun = time.monotonic()
    with pytest.raises(SourceError) as caught:
        mtconnect.probe(equipment)
    assert str(caught.value) == str(mtconnect.UNSAFE_XML)
    assert time.monotonic() - begun < 2  # 10⁹ "lol"s were never built


def test_an_oversized_answer_is_cut_off(hub, category, gateway, settings):
    settings.TRIAL_RESULT_MAX_BYTES = 1000
    gateway.reply(Reply(body=b"<x>" + b" " * 5000 + b"</x>", content_type="text/xml"))
    equipment = mtconnect_equipment(hub, category, gateway.url)
    with pytest.raises(SourceError) as caught:
        mtconnect.probe(equipment)
    assert str(caught.value) == "The agent's answer exceeds the limit of 1000 bytes."


# --- with the real collector ----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_booking_window_becomes_the_trial(hub, category, sme, operator):
    agent = MTConnectAgent(buffer_size=64).start()
    try:
        _collect_a_trial(mtconnect_equipment(hub, category, agent.url), agent, sme, operator)
    finally:
        agent.stop()


def _collect_a_trial(equipment, agent, sme, operator):
    booking = running_booking(equipment, sme, started=timedelta(minutes=20))
    start = booking.start
    agent.add("exec", "READY", start - timedelta(minutes=2))
    with collector(interval=0.1) as c:
        wait_for(
            lambda: SourceState.objects.filter(
                pk=equipment.pk, state__instance_id=str(agent.instance_id)
            ).exists()
        )
        outside = [("Sload", 5.0, start - timedelta(seconds=1))]
        inside = [
            ("exec", "ACTIVE", start + timedelta(minutes=1)),
            ("Sload", 61.5, start + timedelta(minutes=1)),
            ("vib", 1.9, start + timedelta(minutes=1)),
            ("Sload", 63.0, start + timedelta(minutes=2)),
        ]
        for item, value, ts in outside + inside:
            agent.add(item, value, ts)
        wait_for(lambda: Observation.objects.filter(equipment=equipment).count() == 6)
        agent.restart()
        restarted = agent.buffered()[0].ts
        agent.add("Sload", 64.0, start + timedelta(minutes=9))
        wait_for(lambda: SourceGap.objects.filter(equipment=equipment).count() == 1)
        wait_for(lambda: Observation.objects.filter(equipment=equipment).count() == 7)
        # The buffer (64) overflows before the next poll can read it: 70 in one burst.
        agent.add_many(
            ("Sload", 70.0 + i, start + timedelta(minutes=9, seconds=i)) for i in range(70)
        )
        wait_for(lambda: SourceGap.objects.filter(equipment=equipment).count() == 2)
        wait_for(
            lambda: SourceState.objects.get(pk=equipment.pk).state["next"] == agent.next_sequence
        )
        assert c.flush()
        end = timezone.now()
        time.sleep(1.2)  # a batch after the end marks it stored
        agent.add("Sload", 99.0)  # after the booking: stored, but not the trial's
        wait_for(lambda: Observation.objects.filter(equipment=equipment, value=99.0).exists())
    trial = finish(booking, operator, at=end)
    assert trial.status == "collected"
    rows = list(
        Measurement.objects.filter(trial=trial)
        .order_by("ts", "metric__name")
        .values_list("ts", "metric__name", "value", "metric__unit")
    )
    kept = [
        (start + timedelta(minutes=9, seconds=i), "spindle_load", 70.0 + i, "%")
        for i in range(6, 70)
    ]  # 13 to 18 overflowed: 11 UNAVAILABLE and 64.0 came first
    assert rows == [
        (start + timedelta(minutes=1), "spindle_load", 61.5, "%"),
        (start + timedelta(minutes=1), "state", 1.0, ""),
        (start + timedelta(minutes=1), "vibration_rms", 1.9, "mm/s"),
        (start + timedelta(minutes=2), "spindle_load", 63.0, "%"),
        (start + timedelta(minutes=9), "spindle_load", 64.0, "%"),
        *kept,
    ]
    assert [(g["reason"], g["start"], g["end"]) for g in trial.gaps] == [
        ("agent_restart", (start + timedelta(minutes=2)).isoformat(), restarted.isoformat()),
        ("buffer_overflow", (start + timedelta(minutes=9)).isoformat(), kept[0][0].isoformat()),
    ]
