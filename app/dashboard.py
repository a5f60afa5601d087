"""`memcast ui`: the MLflow UI on the project's tracking store (resolved as every command resolves
it), and with `optuna` also optuna-dashboard on the study storage; both on 127.0.0.1.

    servers = start_servers(tracking_uri, port=5000, optuna_storage=None)
    wait(servers)        # until Ctrl-C (KeyboardInterrupt) or a server stops; then stop(servers)

Each server runs in a session of its own (its worker processes with it), so stopping one stops all
of its processes. The servers' output goes to a log file each, named when they start.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from app import tracking

HOST = "127.0.0.1"


class DashboardError(RuntimeError):
    """A server that cannot start; one line."""


@dataclass
class Server:
    name: str
    url: str
    process: subprocess.Popen
    log: Path


def port_is_free(port: int, host: str = HOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = HOST) -> int:
    """A port nothing listens on now (for tests and --port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def mlflow_command(uri: str, port: int, workers: int = 1) -> list[str]:
    """`mlflow ui` on the store; one worker process (MLflow's default of 4 takes long to start on a
    small machine, and one user needs one)."""
    where = ["--host", HOST, "--port", str(port), "--workers", str(workers)]
    return [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri, *where]


def optuna_command(storage: str, port: int) -> list[str]:
    """optuna-dashboard's command (the memcast[dashboard] extra); a journal: storage is its file."""
    script = Path(sys.executable).with_name("optuna-dashboard")
    found = str(script) if script.exists() else shutil.which("optuna-dashboard")
    if found is None:
        raise DashboardError("--optuna needs optuna-dashboard: pip install 'memcast[dashboard]'")
    target = storage.removeprefix("journal:")
    return [found, target, "--host", HOST, "--port", str(port)]


def _start(name: str, command: list[str], port: int, logs: Path) -> Server:
    if not port_is_free(port):
        raise DashboardError(f"port {port} on {HOST} is in use; choose another with the port option")
    log = logs / f"{name.split()[0].lower()}.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
    return Server(name, f"http://{HOST}:{port}/", process, log)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (our own local server)
            return response.status < 500
    except (urllib.error.URLError, OSError):
        return False


def _last_line(log: Path) -> str:
    lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1].strip()[:200] if lines else "no output"


def ready(servers: list[Server], timeout: float = 120.0) -> None:
    """Wait until every server answers GET /; one that exits first is a DashboardError."""
    deadline = time.monotonic() + timeout
    for server in servers:
        while not _answers(server.url):
            if server.process.poll() is not None:
                stop(servers)
                code = server.process.returncode
                raise DashboardError(
                    f"{server.name} exited ({code}): {_last_line(server.log)} (log: {server.log})"
                )
            if time.monotonic() > deadline:
                stop(servers)
                raise DashboardError(f"{server.name} did not answer {server.url} in {timeout:.0f} s")
            time.sleep(0.3)


def start_servers(
    tracking_uri: str | None = None,
    port: int = 5000,
    optuna_storage: str | None = None,
    optuna_port: int = 8080,
) -> list[Server]:
    """The MLflow UI on the tracking store (checked first), and optuna-dashboard when
    `optuna_storage` is given; returns once both answer."""
    uri = tracking.checked_uri(tracking_uri)
    commands = [("MLflow UI", mlflow_command(uri, port), port)]
    if optuna_storage is not None:
        commands.append(("Optuna dashboard", optuna_command(optuna_storage, optuna_port), optuna_port))
    logs = Path(tempfile.mkdtemp(prefix="memcast-ui-"))
    servers: list[Server] = []
    try:
        for name, command, at in commands:
            servers.append(_start(name, command, at, logs))
    except DashboardError:
        stop(servers)
        raise
    ready(servers)
    return servers


def wait(servers: list[Server]) -> None:
    """Until Ctrl-C (KeyboardInterrupt) or until a server stops on its own (a DashboardError); the
    servers are stopped either way."""
    try:
        while True:
            for server in servers:
                if server.process.poll() is not None:
                    code, log = server.process.returncode, server.log
                    raise DashboardError(f"{server.name} stopped ({code}): {_last_line(log)} (log: {log})")
            time.sleep(0.5)
    finally:
        stop(servers)


def stop(servers: list[Server], grace: float = 10.0) -> None:
    """SIGTERM to each server's process group, then SIGKILL after `grace` seconds."""
    gone = (ProcessLookupError, PermissionError)
    for server in servers:
        if server.process.poll() is None:
            with contextlib.suppress(*gone):
                os.killpg(server.process.pid, signal.SIGTERM)
    for server in servers:
        try:
            server.process.wait(grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(*gone):
                os.killpg(server.process.pid, signal.SIGKILL)
            server.process.wait()
        with contextlib.suppress(*gone):  # workers the server left behind in its group
            os.killpg(server.process.pid, signal.SIGKILL)
