"""A simulated OPC UA plant (asyncua): a metal 3D printer and a robot cell whose variables
change like the demo gateway's readings, historised so that history reads work, plus
any number of extra counter nodes for load tests.

Tests and the demo plant use ``PlantServer``; it runs the asyncio server in its own
thread, so synchronous code drives it::

    plant = PlantServer(port=0).start()
    plant.set("ns=2;s=Printer.LayerTemperature", 1620.5)
    plant.restart()          # same port, every session and subscription gone
    plant.stop()

``python -m trials.plant.opcua_server --port 4840`` serves the plant until interrupted,
the machines running (see ``main`` for the load-test options).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import random
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from asyncua import Server, ua
from asyncua.crypto import cert_gen
from asyncua.crypto.permission_rules import User, UserRole
from asyncua.server.history import HistoryDict
from cryptography.x509.oid import ExtendedKeyUsageOID

from trials.sources import demo

logger = logging.getLogger(__name__)

NAMESPACE = "urn:testbed:demo-plant"
APPLICATION_URI = "urn:testbed:demo-plant:server"
HISTORY_COUNT = 100_000  # values kept per historised node
EXTRA_PREFIX = "Bench.N"  # extra nodes: ns=2;s=Bench.N000, …, values 0, 1, 2 …


@dataclass(frozen=True)
class Signal:
    """One simulated variable: its node name, the metric it stands for, and its unit."""

    name: str  # the string node id in the plant namespace, e.g. "Printer.OxygenLevel"
    metric: str
    unit: str


PRINTER = "additive-manufacturing"
ROBOT = "industrial-robotics"
MACHINES = {
    PRINTER: ("Printer", [Signal("Printer.LayerTemperature", "layer_temperature", "°C"),
                          Signal("Printer.OxygenLevel", "oxygen_level", "ppm"),
                          Signal("Printer.ChamberPressure", "chamber_pressure", "mbar"),
                          Signal("Printer.LaserPower", "laser_power", "W")]),
    ROBOT: ("Robot", [Signal("Robot.CycleTime", "cycle_time", "s"),
                      Signal("Robot.PositionError", "position_error", "mm"),
                      Signal("Robot.MotorTemperature", "motor_temperature", "°C")]),
}
# Signals of the printer that the demo gateway has no model for: they follow the machine's
# state (argon overpressure and laser power while a build runs) instead of a slow drift.
# metric: (while running, while idle, noise)
STATE_DRIVEN = {"chamber_pressure": (1028.0, 1013.0, 0.4), "laser_power": (370.0, 0.0, 2.5)}
RUNNING, IDLE = "Running", "Idle"
DUTY = (40, 10)  # machine ticks running, then idle


def node_id(name: str, ns: int = 2) -> str:
    """The string NodeId of a plant variable (the plant namespace is index 2)."""
    return f"ns={ns};s={name}"


def extra_name(i: int) -> str:
    return f"{EXTRA_PREFIX}{i:03d}"


def source_config(category: str = PRINTER, sampling_ms: int = 1000) -> dict:
    """The ``opcua`` result-source configuration reading one machine of this plant (the
    demo's equipment: ``seed_demo``); its URL is ``PlantServer.url``."""
    folder, items = MACHINES[category]
    return {"nodes": [{"node_id": node_id(s.name), "metric": s.metric, "unit": s.unit}
                      for s in items],
            "state_node": node_id(f"{folder}.State"), "sampling_ms": sampling_ms,
            "mode": "subscribe"}


def _demo_values(category: str, seed: str) -> Iterator[dict[str, float]]:
    """The demo gateway's readings for ``category``, one moment after the other, forever:
    each machine tick takes the next moment (the drift cycle is 600 ticks long)."""
    start = datetime(2025, 1, 1, tzinfo=UTC)
    for cycle in itertools.count():
        moments: dict[datetime, dict[str, float]] = {}
        for ts, name, value, _unit in demo.readings(category, f"{seed}:{cycle}", start,
                                                   start + 600 * demo.STEP):
            moments.setdefault(ts, {})[name] = value
        yield from moments.values()


class PlantHistory(HistoryDict):
    """The in-memory historian, kept across restarts like a real server's."""

    async def new_historized_node(self, node_id, period, count=0):
        if node_id not in self._datachanges:
            await super().new_historized_node(node_id, period, count)


class _Logins:
    """asyncua user manager: the given username/password pairs, nobody else."""

    def __init__(self, users: dict[str, str]):
        self.users = users

    def get_user(self, iserver, username=None, password=None, certificate=None):
        if username in self.users and self.users[username] == password:
            return User(role=UserRole.User, name=username)
        return None


class PlantServer:
    """The plant's OPC UA server in a background thread (see the module docstring).

    ``nodes``: extra Double variables Bench.N000 … for load tests (``count``);
    ``security``: Basic256Sha256 (Sign, SignAndEncrypt) only, with a self-signed server
    certificate made under ``cert_dir``; ``users``: username → password, then anonymous
    sessions are refused; ``history``: historise every variable (in memory)."""

    def __init__(self, port: int = 0, nodes: int = 0, security: bool = False, *,
                 host: str = "127.0.0.1", users: dict[str, str] | None = None,
                 history: bool = True, cert_dir: Path | None = None):
        self.host, self.port, self.extra, self.security = host, port, nodes, security
        self.users = users or {}
        self.history = history
        self.cert_dir = cert_dir  # a temporary one when security needs it and none is given
        self.counted_from: datetime | None = None  # tick 0 of ``count``
        self._history = PlantHistory()
        self._values: dict[str, ua.DataValue] = {}  # survive restarts, as a PLC's would
        self._server: Server | None = None
        self._ns = 2
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._tasks: list[asyncio.Task] = []

    # --- synchronous API ------------------------------------------------------------

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"opc.tcp://{host}:{self.port}/testbed/plant/"

    def start(self) -> PlantServer:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="opcua-plant",
                                        daemon=True)
        self._thread.start()
        self._call(self._start())
        return self

    def stop(self) -> None:
        if self._loop is None:
            return
        self._call(self._stop(cancel_tasks=True))
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()
        self._loop = None

    def restart(self) -> None:
        """Stop and start again on the same port: every connection is cut, every session
        and subscription forgotten; the values and the history stay."""
        self._call(self._stop(cancel_tasks=False))
        self._call(self._start())

    def set(self, node: str, value, ts: datetime | None = None) -> None:
        """Write ``value`` (a float, a bool or a text) to ``node`` ("ns=2;s=…"), with the
        source timestamp ``ts`` (now if None)."""
        self._call(self._write({node: value}, ts))

    def set_many(self, values: dict[str, object], ts: datetime | None = None) -> None:
        self._call(self._write(values, ts))

    def run_machine(self, interval: float = 1.0) -> None:
        """Let the printer and the robot run: every ``interval`` seconds each variable
        takes its next value; the state nodes go Running and Idle in turn."""
        self._spawn(self._machine(interval))

    def count(self, interval: float, ticks: int) -> threading.Event:
        """Set every extra node to 1, 2 … ``ticks``, one step every ``interval`` seconds,
        tick k with the source timestamp ``self.counted_from + k × interval`` exactly (no
        tick is skipped when late). The event is set after the last tick."""
        done = threading.Event()
        self.counted_from = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
        self._spawn(self._count(interval, ticks, done))
        return done

    # --- the server, in its loop ------------------------------------------------------

    def _call(self, coro, timeout: float = 60):
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def _spawn(self, coro) -> None:
        async def spawn():
            self._tasks.append(asyncio.create_task(coro))

        self._call(spawn())

    async def _start(self) -> None:
        server = Server(user_manager=_Logins(self.users) if self.users else None)
        server.iserver.history_manager.set_storage(self._history)
        await server.init()
        server.set_endpoint(self.url)
        server.set_server_name("Testbed demo plant")
        server.set_identity_tokens([ua.UserNameIdentityToken] if self.users
                                   else [ua.AnonymousIdentityToken])
        if self.security:
            await self._secure(server)
        else:
            server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        self._ns = await server.register_namespace(NAMESPACE)
        await self._build(server)
        await server.start()
        self.port = server.bserver.port
        self._server = server
        logger.info("OPC UA plant serving at %s", self.url)

    async def _secure(self, server: Server) -> None:
        await server.set_application_uri(APPLICATION_URI)
        self.cert_dir = Path(self.cert_dir or tempfile.mkdtemp(prefix="opcua-plant-"))
        self.cert_dir.mkdir(parents=True, exist_ok=True)
        key, cert = self.cert_dir / "server-key.pem", self.cert_dir / "server-cert.der"
        await cert_gen.setup_self_signed_certificate(
            key, cert, APPLICATION_URI, self.host, [ExtendedKeyUsageOID.SERVER_AUTH], {})
        await server.load_certificate(str(cert))
        await server.load_private_key(str(key))
        server.set_security_policy([ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt,
                                    ua.SecurityPolicyType.Basic256Sha256_Sign])

    async def _build(self, server: Server) -> None:
        """The address space: Objects/Printer, Objects/Robot and Objects/Bench."""
        objects = server.nodes.objects
        variables = []
        for _category, (folder_name, items) in MACHINES.items():
            folder = await objects.add_object(self._ns, folder_name)
            for signal in items:
                variables.append(await self._variable(folder, signal.name, 0.0))
            variables.append(await self._variable(folder, f"{folder_name}.State", IDLE))
        if self.extra:
            bench = await objects.add_object(self._ns, "Bench")
            for i in range(self.extra):
                variables.append(await self._variable(bench, extra_name(i), 0.0))
        if self.history:
            await server.historize_node_data_change(variables, period=None, count=HISTORY_COUNT)

    async def _variable(self, parent, name: str, initial):
        node = await parent.add_variable(ua.NodeId(name, self._ns), name, initial)
        key = node_id(name, self._ns)
        if key in self._values:
            await node.write_value(self._values[key])
        else:
            self._values[key] = await node.read_data_value()
        return node

    async def _write(self, values: dict[str, object], ts: datetime | None) -> None:
        if self._server is None:
            raise ConnectionError("the plant server is restarting")
        now = datetime.now(UTC)
        for node, value in values.items():
            kind = ua.VariantType.String if isinstance(value, str) else ua.VariantType.Double
            dv = ua.DataValue(ua.Variant(value if kind == ua.VariantType.String
                                         else float(value), kind),
                              SourceTimestamp=ts or now, ServerTimestamp=now)
            self._values[node] = dv
            await self._server.write_attribute_value(ua.NodeId.from_string(node), dv)

    async def _stop(self, *, cancel_tasks: bool) -> None:
        if cancel_tasks:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            self._tasks.clear()
        server, self._server = self._server, None
        if server is not None:
            await server.stop()
        if cancel_tasks:  # what asyncua leaves behind (session timeouts), before the loop ends
            leftovers = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in leftovers:
                task.cancel()
            await asyncio.gather(*leftovers, return_exceptions=True)

    async def _machine(self, interval: float) -> None:
        rng = random.Random(7)  # noqa: S311 - simulated readings
        models = {category: _demo_values(category, "plant") for category in MACHINES}
        was_running = None
        for tick in itertools.count():
            running = tick % sum(DUTY) < DUTY[0]
            values: dict[str, object] = {}
            for category, (folder_name, items) in MACHINES.items():
                model = next(models[category])
                if running != was_running:  # a state node changes with the state only
                    values[node_id(f"{folder_name}.State", self._ns)] = (RUNNING if running
                                                                         else IDLE)
                for signal in items:
                    values[node_id(signal.name, self._ns)] = self._machine_value(
                        signal.metric, model, running, rng)
            was_running = running
            await self._tolerate_restart(self._write(values, None))
            await asyncio.sleep(interval)

    @staticmethod
    def _machine_value(metric: str, model: dict[str, float], running: bool,
                       rng: random.Random) -> float:
        if metric in STATE_DRIVEN:
            busy, idle, noise = STATE_DRIVEN[metric]
            return max((busy if running else idle) + rng.gauss(0, noise), 0.0)
        return round(model[metric], 4)

    async def _count(self, interval: float, ticks: int, done: threading.Event) -> None:
        loop = asyncio.get_running_loop()
        began = loop.time() + (self.counted_from - datetime.now(UTC)).total_seconds()
        names = [node_id(extra_name(i), self._ns) for i in range(self.extra)]
        for k in range(1, ticks + 1):
            await asyncio.sleep(max(began + k * interval - loop.time(), 0))
            ts = self.counted_from + timedelta(seconds=k * interval)
            await self._tolerate_restart(self._write(dict.fromkeys(names, float(k)), ts))
        done.set()

    @staticmethod
    async def _tolerate_restart(write) -> None:
        try:
            await write
        except ConnectionError:
            logger.info("Plant value not written: the server is restarting")


def main(argv: list[str] | None = None) -> int:
    """Serve the plant. With ``--ticks``, the extra nodes count (see ``PlantServer.count``)
    once a line arrives on stdin ("go"); the start time and the ticks are printed as
    ``counted <ISO time of tick 0> <ticks>`` when done. The first line printed is
    ``serving <url>``."""
    parser = argparse.ArgumentParser(description="Testbed's simulated OPC UA plant")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4840)
    parser.add_argument("--nodes", type=int, default=0, help="extra counter nodes")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between values")
    parser.add_argument("--ticks", type=int, default=0,
                        help="count the extra nodes this many times after 'go' on stdin")
    parser.add_argument("--no-history", action="store_true")
    parser.add_argument("--no-machine", action="store_true", help="machines stay idle")
    parser.add_argument("--security", action="store_true", help="Basic256Sha256 only")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    plant = PlantServer(port=args.port, nodes=args.nodes, security=args.security,
                        host=args.host, history=not args.no_history).start()
    print(f"serving {plant.url}", flush=True)
    try:
        if not args.no_machine:
            plant.run_machine(args.interval)
        if args.ticks:
            sys.stdin.readline()
            plant.count(args.interval, args.ticks).wait()
            print(f"counted {plant.counted_from.isoformat()} {args.ticks}", flush=True)
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        plant.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
