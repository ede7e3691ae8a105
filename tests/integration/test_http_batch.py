"""HttpProbes' command run for real (this machine's shell and curl, a local HTTP server on
127.0.0.1): the requests of one verification run at the same time, and their answers come
back in the order asked, each whole, whatever order they finished in; nothing is left behind."""

from __future__ import annotations

import glob
import http.server
import socket
import subprocess
import threading

import pytest

from ollama_gate.facts.host import LOCK_DIR
from ollama_gate.facts.http import HttpProbes, curl_batch_config


class Handler(http.server.BaseHTTPRequestHandler):
    # /together answers only once two requests for it are in flight at the same time
    # (500 after 10 s otherwise): it passes only when the requests run in parallel.
    together = threading.Barrier(2)

    def do_GET(self):
        if self.path.startswith("/together"):
            try:
                self.together.wait(timeout=10)
            except threading.BrokenBarrierError:
                self.send_response(500)
                self.end_headers()
                return
        body = f'{{"models":[{{"name":"{self.path.strip("/")}"}}]}}'.encode()
        status = 401 if self.headers.get("Authorization") != "Bearer right" else 200
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        if status == 401:
            self.send_header("WWW-Authenticate", 'Bearer realm="t"')
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv.server_address[1]
    srv.shutdown()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_answers_in_the_order_asked_though_they_finish_in_another(server):
    closed = free_port()
    Handler.together.reset()
    requests = [("GET", f"http://127.0.0.1:{server}/together1", None, 30, False, "Bearer right"),
                ("GET", f"http://127.0.0.1:{server}/fast", None, 30, False, "Bearer wrong"),
                ("GET", f"http://127.0.0.1:{closed}/none", None, 30, False, None),
                ("GET", f"http://127.0.0.1:{server}/together2", None, 30, False, "Bearer right")]
    before = set(glob.glob(f"{LOCK_DIR}/ollama-gate-probes.*"))
    command = HttpProbes().command([f"GET {r[1]}" for r in requests])
    assert "Bearer" not in command
    out = subprocess.run(["sh", "-c", command], input=curl_batch_config(requests).getvalue(),
                         capture_output=True, text=True, timeout=60)
    first, fast, none, second = HttpProbes().process(out.stdout.splitlines())
    # Both /together requests were in flight at once (else 500), and /fast finished
    # before them, yet each answer is read whole and in its place.
    assert (first["status"], first["models"]) == (200, ["together1"])
    assert (fast["status"], fast["www_authenticate"]) == (401, ['Bearer realm="t"'])
    assert (none["status"], none["curl_exit"]) == (0, 7)
    assert (second["status"], second["models"]) == (200, ["together2"])
    assert set(glob.glob(f"{LOCK_DIR}/ollama-gate-probes.*")) == before  # nothing left behind
