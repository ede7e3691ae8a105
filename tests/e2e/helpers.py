"""Helpers of the verification, rotation and leak tests: credentials of a secrets copy, the
CLI that rotates them, a bounded request loop, container identities, a process-list sampler."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from ollama_gate import PROJECT_DIR
from ollama_gate.facts.host import lock_path
from ollama_gate.secrets_file import load_secrets

from .conftest import Run, deploy, ssh

def run(*args: str, secrets: Path | None = None, report: Path | None = None, verify_only: bool = False,
        timeout: int = 900) -> Run:
    """`pyinfra -y ARGS inventory/lab.py deploy.py` (or verify.py) with the lab's secrets or a copy."""
    env = {"OLLAMA_GATE_REPORT": str(report)} if report is not None else {}
    return deploy(*args, secrets=secrets, env=env, timeout=timeout,
                  files=("verify.py",) if verify_only else ("deploy.py",))


def lock_holder(lab, index: int, since: str, seconds: int = 20) -> subprocess.Popen:
    """Another run's lock on lab host ``index``: a shell on the host holds the deploy lock of
    /opt/ollama-gate for ``seconds`` (bounded by timeout), saying it started at ``since``."""
    h = lab["hosts"][index]
    lock = lock_path("/opt/ollama-gate")
    return subprocess.Popen(
        ["ssh", "-i", lab["ssh_key"], "-p", str(h["ssh_port"]), "-o", "StrictHostKeyChecking=no",
         "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", f"{h['ssh_user']}@{h['ssh_host']}",
         f"echo '{since}' > {lock}.info; timeout {seconds} flock {lock} sleep {seconds}"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def auth_header(mode: str, name: str, value: str) -> str:
    if mode == "basic":
        return "Basic " + base64.b64encode(f"{name}:{value}".encode()).decode()
    return f"Bearer {value}"


def status_of(url: str, header: str | None = None, timeout: float = 10, data: bytes | None = None) -> int:
    """GET url (a 127.0.0.1 lab port), or POST ``data`` as JSON; 0 when nothing answers."""
    request = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if header:
        request.add_header("Authorization", header)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as e:
        return e.code
    except (urllib.error.URLError, OSError):
        return 0


def cli(secrets: Path, *args: str) -> str:
    """Run `python -m ollama_gate ARGS` on the secrets copy; its stdout (a new value, or "")."""
    proc = subprocess.run([sys.executable, "-m", "ollama_gate", *args], cwd=PROJECT_DIR,
                          env=dict(os.environ, OLLAMA_GATE_SECRETS=str(secrets)),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def all_secret_values(*paths: Path) -> set[str]:
    """Every password, key and retired value of the secrets files, plus the Basic header
    forms of the passwords (what a leak of an Authorization header would show)."""
    values: set[str] = set()
    for path in paths:
        secrets = load_secrets(path, password_min_length=12)
        for name, secret in secrets.users.items():
            values |= {secret.reveal(), auth_header("basic", name, secret.reveal()).split()[1]}
        values |= {s.reveal() for s in secrets.keys.values()}
        for name, olds in secrets.retired.items():
            for old in olds:
                values |= {old.reveal(), auth_header("basic", name, old.reveal()).split()[1]}
    return values


def containers(lab, index: int) -> dict[str, tuple[str, str]]:
    """Container name -> (ID, StartedAt) on lab host index: changes on any re-create or restart."""
    out = ssh(lab, index, "docker ps -q | xargs -r docker inspect -f '{{.Name}} {{.Id}} {{.State.StartedAt}}'").stdout
    return {line.split()[0].lstrip("/"): tuple(line.split()[1:3]) for line in out.splitlines()}


@dataclass
class RequestLoop:
    """Clients with unchanged credentials asking /api/tags again and again while a deploy
    runs: bounded in count and time, only to the lab's 127.0.0.1 ports."""

    targets: list[tuple[str, str, str]]  # (label, url, Authorization header)
    max_requests: int = 20000
    max_seconds: float = 300
    counts: dict[str, int] = field(default_factory=dict)
    failures: list[tuple[str, int, float]] = field(default_factory=list)

    def __post_init__(self):
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(t,), daemon=True) for t in self.targets]

    def _run(self, target):
        label, url, header = target
        assert url.startswith("http://127.0.0.1:"), url
        start = time.monotonic()
        per_target = self.max_requests // len(self.targets)
        n = 0
        while not self._stop.is_set() and n < per_target and time.monotonic() - start < self.max_seconds:
            status = status_of(url, header)
            n += 1
            if status != 200:
                self.failures.append((label, status, time.monotonic() - start))
        self.counts[label] = n

    def __enter__(self):
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for t in self._threads:
            t.join(timeout=30)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


class RemoteLoop:
    """A shell loop on a lab host, bounded in time, that ends when asked (a stop file).

    + body: the commands run on each turn
    + after: a filter its output goes through (on the host)
    """

    def __init__(self, lab, index: int, body: str, seconds: int = 180, after: str = "cat"):
        self.lab, self.index = lab, index
        self.stop_file = f"/tmp/ollama-gate-e2e-loop-{os.getpid()}-{time.monotonic_ns()}"
        script = (f"rm -f {self.stop_file}; end=$(( $(date +%s) + {int(seconds)} )); "
                  f"while [ ! -e {self.stop_file} ] && [ $(date +%s) -lt $end ]; do {body}; done "
                  f"| {after}; rm -f {self.stop_file}")
        h = lab["hosts"][index]
        self.proc = subprocess.Popen(
            ["ssh", "-i", lab["ssh_key"], "-p", str(h["ssh_port"]), "-o", "StrictHostKeyChecking=no",
             "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
             f"{h['ssh_user']}@{h['ssh_host']}", script],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)

    def stop(self) -> list[str]:
        """End the loop and return its output lines."""
        ssh(self.lab, self.index, f"touch {self.stop_file}")
        try:
            out, _ = self.proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()  # the ssh client this started, by its Popen handle
            out, _ = self.proc.communicate()
        return out.splitlines()


def process_sampler(lab, index: int) -> RemoteLoop:
    """`ps -eo args` over and over while a deploy runs; every distinct line comes back.
    The sampler's own command line carries no secret."""
    return RemoteLoop(lab, index, "ps -eo args", after="awk '!seen[$0]++'")


def credential_emptier(lab, index: int) -> RemoteLoop:
    """Empty the host's credential file by hand every 0.01 s (the deploy rewrites it).

    Often enough that the verification never reads the file the deploy has just written
    before it is emptied: a refused Bearer key fails its requests in milliseconds, and a
    rerun's operations between the write and the verification now take less than 0.1 s
    (a 0.1 s period let one CI run read the names back intact)."""
    body = ("for f in /opt/ollama-gate/auth/htpasswd /opt/ollama-gate/auth/keys.sha256; do "
            "if [ -s $f ]; then : > $f; fi; done; sleep 0.01")
    return RemoteLoop(lab, index, body)
