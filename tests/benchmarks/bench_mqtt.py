"""MQTT ingestion: placeholder, filled in below once the driver is measured."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def mosquitto(config: str, ports: Sequence[int], *, files: dict[str, bytes] | None = None,
              ready_timeout: float = 10.0) -> Iterator[Path]:
    """A private mosquitto for the block (never the shared one on 1883): ``files`` are
    written to a directory of its own first, which ``config`` names as ``{dir}``; the
    block starts once every listener in ``ports`` accepts connections."""
    workdir = Path(tempfile.mkdtemp(prefix="testbed-mosquitto-"))
    workdir.chmod(0o755)  # started as root, mosquitto reads its files as user mosquitto
    for name, content in {**(files or {}),
                          "mosquitto.conf": config.format(dir=workdir).encode()}.items():
        (workdir / name).write_bytes(content)
        (workdir / name).chmod(0o644)
    log_path = workdir / "mosquitto.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen([MOSQUITTO, "-c", str(workdir / "mosquitto.conf")],
                                stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + ready_timeout
        for port in ports:
            while not _accepts(port):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"private mosquitto not ready:\n{log_path.read_text()}")
                time.sleep(0.05)
        yield workdir
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        shutil.rmtree(workdir, ignore_errors=True)


def _accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False
