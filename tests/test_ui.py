"""`memcast ui`: the MLflow UI on the project's store, started and stopped as a user does (Ctrl-C)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request

from app import tracking
from app.dashboard import free_port, port_is_free


def get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.read()


def test_ui_serves_the_store_and_stops_on_ctrl_c(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    port = free_port()
    ui = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "ui", "--port", str(port), "--tracking-uri", uri],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = ui.stdout.readline()  # printed once the server answers
        assert first.startswith(f"MLflow UI: http://127.0.0.1:{port}/"), first + ui.stderr.read()
        status, _ = get(f"http://127.0.0.1:{port}/")
        assert status == 200
        with tracking.start_run(f"http://127.0.0.1:{port}", "ui-test", "a run to see"):  # through the server
            tracking.log_metrics({"test_mse_h24": 0.5})
        api = f"http://127.0.0.1:{port}/api/2.0/mlflow/experiments/search?max_results=100"
        names = {e["name"] for e in json.loads(get(api)[1])["experiments"]}
        assert "ui-test" in names
    finally:
        ui.send_signal(signal.SIGINT)  # Ctrl-C
        out, err = ui.communicate(timeout=60)
    assert ui.returncode == 0, err
    assert out.strip().endswith("stopped")
    deadline = time.monotonic() + 10
    while not port_is_free(port) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert port_is_free(port), "the server's processes are gone"
