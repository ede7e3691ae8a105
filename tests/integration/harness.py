"""Run the rendered proxy config in a real nginx on 127.0.0.1 (tests and bench/).

Debian's nginx with libnginx-mod-http-lua stands in for the official images: a main
nginx.conf from ``proxy.main_conf`` loads the modules and includes the rendered conf.d
file inside ``http {}``, as the images do. Credential files get the product's owner and
mode (root:<worker gid> 0640) so the workers read them exactly as in the container.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from ollama_gate import proxy
from ollama_gate import auth
from ollama_gate.settings import Settings

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
FLAVOR = "debian"


def missing_nginx() -> str | None:
    """Why the real-nginx tests cannot run here, or None."""
    if not os.path.exists(NGINX):
        return "nginx is not installed (apt-get install nginx libnginx-mod-http-lua)"
    for module in proxy.FLAVORS[FLAVOR].load_modules:
        if not os.path.exists(module):
            return f"{module} is missing (apt-get install libnginx-mod-http-lua)"
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {seconds}s")


def worker_readable(path: Path, content: str | bytes) -> None:
    """Write ``path`` atomically, owned root:<worker gid> mode 0640 as the deploy does."""
    data = content.encode() if isinstance(content, str) else content
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.chmod(tmp, 0o640)
    if os.geteuid() == 0:
        os.chown(tmp, 0, proxy.FLAVORS[FLAVOR].worker_gid)
    else:
        os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def worker_readable_dir(path: Path) -> None:
    """Make ``path`` root:<worker gid> mode 0750, as the deploy makes its directories."""
    path.mkdir()
    path.chmod(0o750)
    if os.geteuid() == 0:
        os.chown(path, 0, proxy.FLAVORS[FLAVOR].worker_gid)
    else:
        path.chmod(0o755)


def make_workdir(label: str) -> Path:
    # Not under pytest's tmp_path: its parents are 0700 and the workers run as nobody.
    path = Path(tempfile.mkdtemp(prefix=f"ollama-gate-{label}-", dir="/tmp"))
    path.chmod(0o755)
    return path


class NginxProcess:
    """One nginx master started with ``-p prefix -c nginx.conf``; stopped by its own PID."""

    def __init__(self, prefix: Path, port: int):
        self.prefix = prefix
        self.port = port
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        (self.prefix / "tmp").mkdir(exist_ok=True)
        check = subprocess.run(
            [NGINX, "-t", "-q", "-p", str(self.prefix), "-c", str(self.prefix / "nginx.conf")],
            capture_output=True, text=True, timeout=20,
        )
        if check.returncode != 0:
            raise RuntimeError(f"nginx -t failed:\n{check.stderr}")
        self.process = subprocess.Popen(
            [NGINX, "-p", str(self.prefix), "-c", str(self.prefix / "nginx.conf"), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL, stderr=open(self.prefix / "stderr.log", "wb"),
        )
        try:
            wait_for_port(self.port, self.process)
        except RuntimeError as err:
            self.stop()
            raise RuntimeError(f"{err}\n{self.error_log()}") from None

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)

    def error_log(self) -> str:
        path = self.prefix / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""


class Gate(NginxProcess):
    """The rendered proxy config of ``settings`` in front of ``upstream_port``."""

    def __init__(self, settings: Settings, upstream_port: int | None, *, label: str = "gate",
                 credentials: str | None = None, workers: int = 1, tls_files: dict | None = None,
                 pool=None, service_auth: str | None = None, render_options: dict | None = None):
        prefix = make_workdir(label)
        super().__init__(prefix, free_port())
        self.settings = settings
        self.conf_dir = prefix / "conf.d"
        self.auth_dir = prefix / "auth"
        self.tls_dir = prefix / "tls"
        for path in (self.conf_dir, self.auth_dir, self.tls_dir):
            worker_readable_dir(path)
        self.access_log_path = prefix / "access.log"
        self.files = proxy.render_proxy_config(
            settings,
            flavor=FLAVOR,
            upstream=f"127.0.0.1:{upstream_port or 1}",
            listen_port=self.port,
            listen_address="127.0.0.1",
            conf_dir=str(self.conf_dir),
            auth_dir=str(self.auth_dir),
            tls_dir=str(self.tls_dir),
            access_log=str(self.access_log_path),
            pool=pool,
            **(render_options or {}),
        )
        if service_auth is not None:
            # A gateway's include with its credential for the backends (a secret: auth dir).
            worker_readable(self.auth_dir / proxy.SERVICE_AUTH_FILENAME, service_auth)
        for name, content in self.files.items():
            worker_readable(self.conf_dir / name, content)
        (prefix / "nginx.conf").write_text(proxy.main_conf(
            FLAVOR, prefix=str(prefix), include=f"{self.conf_dir}/*.conf",
            user=os.geteuid() == 0, workers=workers,
        ))
        for name, content in (tls_files or {}).items():
            worker_readable(self.tls_dir / name, content)
        if credentials is not None:
            self.write_credentials(credentials)

    @property
    def credentials_path(self) -> Path:
        return self.auth_dir / auth.mode_of(self.settings).credential_file

    def write_credentials(self, content: str) -> None:
        worker_readable(self.credentials_path, content)

    def access_log(self) -> str:
        return self.access_log_path.read_text(errors="replace") if self.access_log_path.exists() else ""

    def log_line(self, marker: str, seconds: float = 2.0) -> str:
        """The access log line holding ``marker`` (e.g. a unique User-Agent).

        nginx logs after the response is sent, so the line may lag the response a little.
        """
        deadline = time.monotonic() + seconds
        while True:
            for line in self.access_log().splitlines():
                if marker in line:
                    return line
            if time.monotonic() > deadline:
                raise AssertionError(f"no access log line with {marker!r} after {seconds}s")
            time.sleep(0.02)

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.prefix, ignore_errors=True)


def settings_for(auth_mode: str, **overrides) -> Settings:
    return replace(Settings(), auth_mode=auth_mode, **overrides)


def basic_header(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def request(port: int, method: str = "GET", path: str = "/api/tags", headers: dict | None = None,
            body: bytes | None = None, timeout: float = 10.0):
    """(status, headers as a list of (name, value), body) of one request on a new connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for name, value in (headers or {}).items():
            conn.putheader(name, value)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        response = conn.getresponse()
        data = response.read() if method != "HEAD" else b""
        return response.status, response.getheaders(), data
    finally:
        conn.close()


def header_values(headers, name: str) -> list[str]:
    return [value for key, value in headers if key.lower() == name.lower()]


class RecordingUpstream:
    """A stand-in for Ollama on 127.0.0.1 that records every request it receives.

    ``?stream=N`` answers N newline-delimited JSON chunks ``stream_delay`` seconds apart,
    as Ollama streams generations; anything else answers one JSON document.
    """

    stream_delay = 0.4
    # What it does with a request after recording it: "ok" answers; "reset" closes the
    # connection without answering (a backend that dies after receiving the request);
    # "unavailable" answers 503 (an ollama-gate backend whose Ollama is not reachable);
    # "failed" answers 502 (a backend whose Ollama failed after getting the request);
    # "refuse" answers 401 (a backend that does not accept the gateway's credential);
    # "die-streaming" streams two chunks of ?stream=N and then drops the connection.
    behavior = "ok"
    # Seconds before answering a non-streamed request (a backend busy generating).
    answer_delay = 0.0

    def __init__(self):
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def handle_any(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                record = {
                    "method": self.command,
                    "path": self.path,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "header_names": [k.lower() for k in self.headers.keys()],
                    "body": body,
                    "client_port": self.client_address[1],
                }
                with upstream.lock:
                    upstream.requests.append(record)
                if upstream.behavior == "reset":
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.close_connection = True
                    self.connection.close()
                    return
                if upstream.behavior in ("unavailable", "failed", "refuse"):
                    self.send_response({"unavailable": 503, "failed": 502, "refuse": 401}[upstream.behavior])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if "stream=" in self.path:
                    count = int(self.path.split("stream=", 1)[1].split("&")[0])
                    self.send_response(200)
                    self.send_header("Content-Type", "application/x-ndjson")
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for i in range(min(count, 10)):
                        line = json.dumps({"chunk": i, "done": i == count - 1}).encode() + b"\n"
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
                        self.wfile.flush()
                        if upstream.behavior == "die-streaming" and i == 1:
                            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                                       struct.pack("ii", 1, 0))
                            self.close_connection = True
                            self.connection.close()
                            return
                        if i < count - 1:
                            time.sleep(upstream.stream_delay)
                    self.wfile.write(b"0\r\n\r\n")
                    return
                if upstream.answer_delay:
                    time.sleep(upstream.answer_delay)
                payload = json.dumps({"path": self.path, "bytes": len(body), "port": upstream.port}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = handle_any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)

    def start(self) -> "RecordingUpstream":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def count(self) -> int:
        with self.lock:
            return len(self.requests)

    def last(self) -> dict:
        with self.lock:
            return self.requests[-1]


def stream_arrivals(port: int, path: str, headers: dict, lines: int) -> list[float]:
    """Seconds after sending at which each of ``lines`` streamed NDJSON lines arrived."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        start = time.monotonic()
        conn.request("POST", path, body=b"{}", headers=headers)
        response = conn.getresponse()
        assert response.status == 200, response.status
        arrivals = []
        for _ in range(lines):
            assert response.readline().startswith(b'{"chunk"')
            arrivals.append(time.monotonic() - start)
        return arrivals
    finally:
        conn.close()
