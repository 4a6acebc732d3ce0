"""Benchmark plumbing with no knowledge of the domain: the bench database, the
environment the app runs with, gunicorn, closed-loop load generation, percentiles and
the result table.

Everything talks to 127.0.0.1 only, and every loop is bounded in time.
"""

from __future__ import annotations

import http.client
import json
import os
import select
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/testbed_bench"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
PROTECTED_DATABASES = {"postgres", "template0", "template1"}


class BenchFailure(RuntimeError):
    """The benchmark cannot give a trustworthy figure (e.g. a request did not get 201)."""


# ---------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Figure:
    """One row of the result table: a measured value against a reference measured in
    the same run. ``target`` is a minimum for value/reference, ``ceiling`` a maximum (a
    time or a size that must stay within a bound: the bound is then the reference)."""

    name: str
    value: float
    unit: str
    reference: str = ""
    reference_value: float | None = None
    reference_unit: str = ""
    target: float | None = None
    percent: bool = False  # show the ratio as a percentage
    ceiling: float | None = None

    @property
    def ratio(self) -> float | None:
        if self.reference_value in (None, 0):
            return None
        return self.value / self.reference_value

    @property
    def meets_target(self) -> bool | None:
        if (self.target is None and self.ceiling is None) or self.ratio is None:
            return None
        return ((self.target is None or self.ratio >= self.target)
                and (self.ceiling is None or self.ratio <= self.ceiling))


def _num(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def markdown_table(figures: Sequence[Figure]) -> str:
    lines = ["| figure | value | reference (same run) | ratio |",
             "|---|---:|---|---:|"]
    for f in figures:
        ref = ""
        if f.reference:
            ref = f.reference
            if f.reference_value is not None:
                ref += f": {_num(f.reference_value)} {f.reference_unit}".rstrip()
        ratio = ""
        if f.ratio is not None:
            ratio = f"{f.ratio * 100:.1f} %" if f.percent else f"{f.ratio:.1f}×"
            bounds = [f"≥ {f.target * 100:.0f} %" if f.percent else f"≥ {f.target}×"
                      for _ in [f.target] if f.target is not None]
            bounds += [f"≤ {f.ceiling * 100:.0f} %" if f.percent else f"≤ {f.ceiling}×"
                       for _ in [f.ceiling] if f.ceiling is not None]
            if bounds:
                verdict = "met" if f.meets_target else "NOT met"
                ratio += f" (target {' and '.join(bounds)}: {verdict})"
        lines.append(f"| {f.name} | {_num(f.value)} {f.unit} | {ref} | {ratio} |")
    return "\n".join(lines)


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no samples")
    rank = max(1, -(-len(ordered) * p // 100))
    return ordered[int(rank) - 1]


# --------------------------------------------------------------------------- database


def database_url() -> str:
    url = os.environ.get("BENCH_DATABASE_URL") or DEFAULT_DATABASE_URL
    parts = urlsplit(url)
    if parts.hostname not in LOOPBACK:
        raise SystemExit(f"BENCH_DATABASE_URL must point at 127.0.0.1, not {parts.hostname!r}")
    name = parts.path.lstrip("/")
    if not name or name in PROTECTED_DATABASES:
        raise SystemExit(f"refusing to drop database {name!r}; name a bench database")
    return url


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def maintenance_url(url: str) -> str:
    """The same server, the ``postgres`` database (to drop and create the bench one)."""
    return urlunsplit(urlsplit(url)._replace(path="/postgres"))


def connect(url: str, **kwargs) -> psycopg.Connection:
    # A statement never runs longer than 10 s: a hung benchmark is a failed one.
    return psycopg.connect(url, connect_timeout=5, options="-c statement_timeout=10000",
                           **kwargs)


def recreate_database(url: str) -> None:
    name = database_name(url)
    with connect(maintenance_url(url), autocommit=True) as conn:
        # Dropping the last run's database (tens of millions of rows) takes its time.
        conn.execute("SET statement_timeout = 300000")
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def redis_url() -> str:
    return os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")


def app_env(url: str) -> dict[str, str]:
    """The environment of every app process (migrate, gunicorn, this one): production
    shape — DEBUG off, Redis as Celery broker and cache. The web tier only publishes
    follow-up work (notifications); no worker runs during the measurements, so the
    figures are the web tier's own (the bench's Redis database is emptied before)."""
    env = dict(os.environ)
    env.update(DATABASE_URL=url, SECRET_KEY="bench-only-secret", DEBUG="0",
               REDIS_URL=redis_url(), DJANGO_SETTINGS_MODULE="testbed.settings",
               PYTHONUNBUFFERED="1", LOG_LEVEL="WARNING",
               # Plain HTTP on loopback: no TLS proxy in front to redirect to.
               SECURE_SSL_REDIRECT="0", ALLOWED_HOSTS="127.0.0.1,localhost,testserver",
               # No mail server here (production refuses console/file backends).
               EMAIL_BACKEND="django.core.mail.backends.dummy.EmailBackend",
               # The ingestion bench's gateway runs on loopback over plain HTTP.
               OUTBOUND_ALLOW_HTTP="1", OUTBOUND_ALLOWED_NETWORKS="127.0.0.0/8,::1/128",
               # Pages name their CSS through the static files manifest (DEBUG off):
               # collected once per run, outside the checkout (tests serve static/).
               STATIC_ROOT=os.path.join(tempfile.gettempdir(), "testbed-bench-static"))
    return env


def collect_static(env: dict[str, str]) -> None:
    subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
                   cwd=ROOT, env=env, check=True)


def flush_redis() -> None:
    import redis

    redis.Redis.from_url(redis_url()).flushdb()


def migrate(env: dict[str, str]) -> None:
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
                   cwd=ROOT, env=env, check=True, timeout=180)


def server_version(url: str) -> str:
    with connect(url) as conn:
        return conn.execute("SELECT version()").fetchone()[0]


# ---------------------------------------------------------------------------- gunicorn


@dataclass(frozen=True)
class Server:
    port: int
    args: tuple[str, ...]
    log: Path

    @property
    def label(self) -> str:
        return "gunicorn " + " ".join(self.args)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Connection(http.client.HTTPConnection):
    """A keep-alive client connection to the app under test. gunicorn's threaded workers
    keep a connection open between requests only for a few seconds; a figure that pauses
    longer (filling a table between stages) would send its next request into a socket
    the server has closed (RemoteDisconnected). Before each request, a connection the
    server has closed is noticed and opened again, as browsers and HTTP libraries do."""

    def __init__(self, port: int, timeout: float = 30):
        super().__init__("127.0.0.1", port, timeout=timeout)

    def request(self, *args, **kwargs):
        if self.sock is not None and _closed_by_peer(self.sock):
            self.close()
        return super().request(*args, **kwargs)


def _closed_by_peer(sock: socket.socket) -> bool:
    readable, _, _ = select.select([sock], [], [], 0)
    if not readable:
        return False
    try:
        return sock.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


def http_get(port: int, path: str, headers: dict[str, str] | None = None,
             timeout: float = 5) -> tuple[int, bytes]:
    conn = Connection(port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def api_get(conn: http.client.HTTPConnection, api_key: str, path: str,
            query: dict | None = None, read: Callable[[bytes], object] | None = None
            ) -> Callable[[], object]:
    """A GET of the API as ``api_key``'s organisation, ready to repeat: returns ``read``
    of the body (None without it); any answer but 200 is a BenchFailure."""
    full = path + ("?" + urlencode(query) if query else "")
    headers = {"Authorization": f"Bearer {api_key}", "Accept": "application/json"}

    def op() -> object:
        conn.request("GET", full, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        if resp.status != 200:
            raise BenchFailure(f"GET {full} → {resp.status} {data[:400]!r}")
        return read(data) if read else None

    return op


def api_list(conn: http.client.HTTPConnection, api_key: str, path: str,
             query: dict | None = None) -> Callable[[], list]:
    """``api_get`` of a list: its page's ``results``."""
    return api_get(conn, api_key, path, query, read=lambda data: json.loads(data)["results"])


def interleaved(first: Callable[[], object], second: Callable[[], object], n: int
                ) -> tuple[list[float], list[float]]:
    """``n`` timings (ms) of each of two calls, alternated so drift on a shared machine
    hits both alike; three warm-up calls each."""
    for _ in range(3):
        first(), second()
    a, b = [], []
    for _ in range(n):
        for op, out in ((first, a), (second, b)):
            began = time.perf_counter()
            op()
            out.append((time.perf_counter() - began) * 1e3)
    return a, b


@contextmanager
def gunicorn(env: dict[str, str], args: Sequence[str], ready_timeout: float = 30
             ) -> Iterator[Server]:
    """Run ``gunicorn testbed.wsgi`` on a free loopback port until the block ends (the
    server is stopped whatever happens in the block)."""
    port = free_port()
    log = Path(tempfile.mkstemp(prefix="bench-gunicorn-", suffix=".log")[1])
    cmd = [str(BIN / "gunicorn"), "testbed.wsgi", "--bind", f"127.0.0.1:{port}",
           "--log-level", "warning", "--graceful-timeout", "5", "--timeout", "30", *args]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + ready_timeout
        while True:
            if proc.poll() is not None:
                raise BenchFailure(f"gunicorn exited ({proc.returncode}):\n{log.read_text()}")
            try:
                status, _ = http_get(port, "/healthz", timeout=1)
                if status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise BenchFailure(f"gunicorn not healthy after {ready_timeout} s:\n"
                                   f"{log.read_text()}")
            time.sleep(0.1)
        yield Server(port=port, args=tuple(args), log=log)
    finally:
        proc.terminate()  # SIGTERM: graceful shutdown of the master and its workers
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        log.unlink(missing_ok=True)


# ------------------------------------------------------------------------ load helpers


@dataclass
class LoadResult:
    duration: float
    completed: int = 0  # operations that finished inside the measured window
    latencies: list[float] = field(default_factory=list)  # seconds, measured window only
    errors: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.completed / self.duration


def closed_loop(ops: Sequence[Callable[[], None]], *, warmup: float, duration: float
                ) -> LoadResult:
    """One thread per op, each calling its op back to back for ``warmup + duration``
    seconds; only operations completing in the last ``duration`` seconds count. The
    first exception stops every thread and is reported in ``errors``."""
    result = LoadResult(duration=duration)
    lock = threading.Lock()
    stop = threading.Event()
    start_gate = threading.Barrier(len(ops) + 1)
    t0 = 0.0

    def worker(op: Callable[[], None]) -> None:
        start_gate.wait(timeout=10)
        window_start, deadline = t0 + warmup, t0 + warmup + duration
        done, lat = 0, []
        try:
            while not stop.is_set():
                began = time.perf_counter()
                if began >= deadline:
                    break
                op()
                ended = time.perf_counter()
                if window_start <= began and ended <= deadline:
                    done += 1
                    lat.append(ended - began)
        except Exception as exc:  # noqa: BLE001 - reported, and fails the benchmark
            stop.set()
            with lock:
                result.errors.append(f"{type(exc).__name__}: {exc}")
        with lock:
            result.completed += done
            result.latencies.extend(lat)

    threads = [threading.Thread(target=worker, args=(op,), daemon=True) for op in ops]
    for t in threads:
        t.start()
    t0 = time.perf_counter()
    start_gate.wait(timeout=10)
    hard_stop = t0 + warmup + duration + 20  # ops have their own 10 s timeouts
    for t in threads:
        t.join(timeout=max(0.0, hard_stop - time.perf_counter()))
    if any(t.is_alive() for t in threads):
        stop.set()
        raise BenchFailure("load threads did not stop in time")
    return result


def timed(fn: Callable[[], object], n: int, *, warmup: int = 3,
          budget: float = 20) -> list[float]:
    """Run ``fn`` ``warmup`` + ``n`` times (stopping early after ``budget`` seconds);
    return the latencies of the measured calls, in seconds."""
    for _ in range(warmup):
        fn()
    samples, stop_at = [], time.perf_counter() + budget
    for _ in range(n):
        began = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - began)
        if began > stop_at:
            break
    return samples
