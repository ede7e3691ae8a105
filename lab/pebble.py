"""Pebble: Let's Encrypt's test ACME server (Debian package `pebble`), run on this machine
for the lab hosts, with real HTTP-01 validation against the lab hosts' proxies.

- `pebble` serves its ACME directory on the Docker bridge's gateway address (where lab
  hosts reach this machine) over HTTPS, with a listener certificate made here; the lab
  hosts trust that certificate through the product's `proxy_acme_ca_cert`.
- `pebble-challtestsrv` is its mock DNS: each lab host name gets an A record with the lab
  host's bridge address (no default answer, so nothing else is ever validated), and
  Pebble validates `http://<name>:80/.well-known/acme-challenge/...` on the lab host.
- The issuing root a client must trust comes from Pebble's management port on 127.0.0.1.
  Pebble forgets accounts and makes new roots on each start.

Both processes are started with Popen and ended by their own handles in `stop()`.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import ssl
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from .hosts import inspect
from .run import apt_install, log, run

PACKAGE = "pebble"


def bridge_gateway(interface: str = "docker0") -> str:
    """The address of this machine on Docker's default bridge (where lab hosts reach it),
    asked of the kernel (SIOCGIFADDR): a fresh machine may have no `ip` command, and
    `docker network inspect bridge` leaves the gateway out on some engines."""
    import fcntl
    import struct

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            packed = fcntl.ioctl(sock.fileno(), 0x8915, struct.pack("256s", interface.encode()[:15]))
        except OSError as e:
            raise SystemExit(f"lab: no address on {interface} (is the Docker engine up?): {e}") from None
    return socket.inet_ntoa(packed[20:24])


def host_address(container: str) -> str:
    """A lab host's address on the default bridge."""
    info = inspect(container)
    if info is None:
        raise SystemExit(f"lab: no container {container}")
    return info["NetworkSettings"]["Networks"]["bridge"]["IPAddress"]


def _free_port(address: str) -> int:
    with socket.socket() as sock:
        sock.bind((address, 0))
        return sock.getsockname()[1]


def _wait_port(address: str, port: int, process: subprocess.Popen, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"lab: {process.args[0]} exited ({process.returncode}) before listening")
        try:
            with socket.create_connection((address, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"lab: nothing listens on {address}:{port} after {seconds:.0f} s")


@dataclass
class Pebble:
    """A running Pebble and its mock DNS; `directory` is what lab hosts use."""

    work_dir: Path
    gateway: str = ""
    acme_port: int = 0
    management_port: int = 0
    dns_port: int = 0
    dns_management_port: int = 0
    processes: list = field(default_factory=list)

    @property
    def directory(self) -> str:
        return f"https://{self.gateway}:{self.acme_port}/dir"

    @property
    def listener_cert(self) -> Path:
        """Pebble's HTTPS certificate: what a lab host trusts to reach the directory."""
        return self.work_dir / "listener.crt"

    def start(self) -> "Pebble":
        if not (shutil.which("pebble") and shutil.which("pebble-challtestsrv")):
            if os.geteuid() != 0:
                raise SystemExit("lab: Pebble needs the Debian package pebble (apt-get install pebble)")
            log("installing pebble (Let's Encrypt's test ACME server)")
            apt_install(PACKAGE)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.gateway = bridge_gateway()
        self.acme_port = _free_port(self.gateway)
        self.management_port = _free_port("127.0.0.1")
        self.dns_port = _free_port("127.0.0.1")
        self.dns_management_port = _free_port("127.0.0.1")
        key = self.work_dir / "listener.key"
        run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-days", "30", "-subj", "/CN=ollama-gate lab Pebble",
             "-addext", f"subjectAltName=IP:127.0.0.1,IP:{self.gateway}",
             "-keyout", str(key), "-out", str(self.listener_cert)], capture=True)
        config = self.work_dir / "pebble.json"
        config.write_text(json.dumps({"pebble": {
            "listenAddress": f"{self.gateway}:{self.acme_port}",
            "managementListenAddress": f"127.0.0.1:{self.management_port}",
            "certificate": str(self.listener_cert), "privateKey": str(key),
            "httpPort": 80, "tlsPort": 443, "ocspResponderURL": "",
            "externalAccountBindingRequired": False,
        }}))
        logs = open(self.work_dir / "pebble.log", "ab")
        dns = subprocess.Popen(
            ["pebble-challtestsrv", "-dns01", f"127.0.0.1:{self.dns_port}", "-http01", "", "-https01", "",
             "-tlsalpn01", "", "-management", f"127.0.0.1:{self.dns_management_port}",
             "-defaultIPv4", "", "-defaultIPv6", ""],
            stdout=logs, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.processes.append(dns)
        _wait_port("127.0.0.1", self.dns_management_port, dns)
        # No random validation sleeps, no deliberately rejected nonces: fast, steady tests.
        env = dict(os.environ, PEBBLE_VA_NOSLEEP="1", PEBBLE_WFE_NONCEREJECT="0")
        ca = subprocess.Popen(["pebble", "-config", str(config), "-dnsserver", f"127.0.0.1:{self.dns_port}"],
                              stdout=logs, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
        self.processes.append(ca)
        _wait_port(self.gateway, self.acme_port, ca)
        log(f"Pebble: directory {self.directory}, log {self.work_dir / 'pebble.log'}")
        return self

    def stop_ca(self) -> None:
        """End Pebble itself (the mock DNS stays): the CA is down."""
        self._end(self.processes[-1])

    def stop(self) -> None:
        """End both processes this started (by their own handles)."""
        for process in reversed(self.processes):
            self._end(process)

    @staticmethod
    def _end(process: subprocess.Popen) -> None:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)

    def add_name(self, name: str, address: str) -> None:
        """Answer A queries for name with address (a lab host's bridge address)."""
        body = json.dumps({"host": name, "addresses": [address]}).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{self.dns_management_port}/add-a", data=body)
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()

    def root(self) -> str:
        """Pebble's issuing root (PEM): what a client trusts to verify a lab endpoint."""
        context = ssl.create_default_context(cafile=str(self.listener_cert))
        with urllib.request.urlopen(f"https://127.0.0.1:{self.management_port}/roots/0", context=context,
                                    timeout=10) as response:
            return response.read().decode()

    def log_tail(self, lines: int = 40) -> str:
        text = (self.work_dir / "pebble.log").read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])
