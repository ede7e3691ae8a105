"""The run's one read of a host (HostState) and its lock (HostLock), run by a real shell here."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid

import pytest

from ollama_gate.facts.host import (BUFFERED_MARK, SECTION_MARK, HostLock, HostState, buffers_printed, host_state_parts,
                                     lock_path)
from ollama_gate.facts.stack import StackFiles
from ollama_gate.facts.system import InstalledPackages
from ollama_gate.facts.tls import CertbotLineage
from ollama_gate.operations import snapshot

ARGS = dict(stack_dir="/opt/ollama-gate", project="ollama-gate", port=8880, proxy_container="ollama-gate-proxy",
            ollama_container="ollama-gate-ollama", packages=["curl", "docker.io"], paths=[], credential_file="",
            lock_wait=300)


def test_the_lock_is_taken_first_and_nothing_is_read_without_it():
    command = HostState().command(**ARGS)
    sections = [part.split("'")[0] for part in command.split(f"echo '{SECTION_MARK} ")[1:]]
    assert sections[0] == "lock" and "credentials" not in sections
    assert command.index('[ -n "$og_held" ] || exit 0') < command.index("> $t/docker")
    assert "$t/credentials" not in command
    with_credentials = HostState().command(**{**ARGS, "credential_file": "/opt/ollama-gate/auth/htpasswd"})
    assert "> $t/credentials" in with_credentials
    # The sections after the lock run at the same time; only their own PIDs are waited for
    # (a bare `wait` would wait for the lock's holder, which lives as long as the run).
    assert 'wait $p;' in command and "wait;" not in command


class FakeHost:
    def __init__(self, name):
        self.name, self.state = name, object()
        self.asked = []

    def get_fact(self, cls, **kwargs):
        self.asked.append((cls.__name__, kwargs))
        return ["asked"]


def test_known_answers_declared_facts_from_the_one_read_and_asks_the_others(monkeypatch):
    fake = FakeHost("h1")
    monkeypatch.setattr(snapshot, "host", fake)
    reads = []
    monkeypatch.setattr(snapshot, "_read", lambda args: reads.append(args) or {
        "lock": {"held": True}, "files": {"/opt/ollama-gate": "d"}, "packages": ["curl"]})
    snapshot.declare(**ARGS)
    assert snapshot.known(StackFiles, stack_dir="/opt/ollama-gate") == {"/opt/ollama-gate": "d"}
    # A subset of the declared package names is answered from the same read.
    assert snapshot.known(InstalledPackages, packages=["curl"]) == ["curl"]
    assert len(reads) == 1 and fake.asked == []
    # Other arguments, and fresh reads, ask the host.
    assert snapshot.known(StackFiles, stack_dir="/srv/other") == ["asked"]
    assert snapshot.known(InstalledPackages, packages=["nginx"]) == ["asked"]
    assert snapshot.fresh(StackFiles, stack_dir="/opt/ollama-gate") == ["asked"]
    assert len(fake.asked) == 3 and len(reads) == 1


def test_certbots_lineage_is_answered_by_the_one_read(monkeypatch):
    fake = FakeHost("h1")
    monkeypatch.setattr(snapshot, "host", fake)
    monkeypatch.setattr(snapshot, "_read", lambda args: {"lock": {"held": True}, "certbot": None})
    snapshot.declare(**ARGS, cert_name="ollama-gate")
    assert "certbot" in [section for section, _, _ in host_state_parts(**ARGS, cert_name="ollama-gate")]
    # None (no lineage) is an answer from the read, not a reason to ask the host again.
    assert snapshot.known(CertbotLineage, cert_name="ollama-gate") is None and fake.asked == []
    assert snapshot.known(CertbotLineage, cert_name="other") == ["asked"]


def test_every_section_has_a_fact():
    names = [section for section, _, _ in host_state_parts(**{**ARGS, "credential_file": "/f"})]
    assert len(names) == len(set(names))
    assert set(names) <= set(__import__("ollama_gate.facts.host", fromlist=["SECTIONS"]).SECTIONS)


needs_flock = pytest.mark.skipif(not shutil.which("flock") or not shutil.which("timeout"), reason="needs flock")


def _run(stack_dir, wait, hold=0.0, env=None):
    # `timeout` is the anchor (as sshd-session is over SSH): the lock lives as long as it.
    script = HostLock().command(stack_dir=stack_dir, wait=wait) + (f"; sleep {hold}" if hold else "")
    return subprocess.Popen(["timeout", "30", "sh", "-c", script], stdout=subprocess.PIPE, text=True, env=env)


@needs_flock
@pytest.mark.parametrize("tail", ["gnu", "without --pid"])
def test_a_second_run_waits_then_is_told_since_when_and_the_lock_ends_with_its_run(tail, tmp_path):
    """The holder watches the run with GNU tail --pid; where tail has no --pid (busybox),
    its shell loop holds the lock just the same."""
    env = None
    if tail != "gnu":
        (tmp_path / "tail").write_text("#!/bin/sh\necho \"tail: unrecognized option '$1'\" >&2; exit 1\n")
        (tmp_path / "tail").chmod(0o755)
        env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}
    stack_dir = f"/tmp/ollama-gate-lock-test-{uuid.uuid4().hex[:8]}"
    first = _run(stack_dir, wait=5, hold=3, env=env)
    try:
        time.sleep(0.5)
        started = time.monotonic()
        second = _run(stack_dir, wait=1, env=env)
        out, _ = second.communicate(timeout=20)
        assert HostLock().process(out.splitlines())["held"] is False
        assert 0.9 <= time.monotonic() - started < 5
        assert out.startswith("lock busy 1 20") and " from " in out
        assert first.communicate(timeout=20)[0].splitlines() == ["lock held"]
        # The first run is over (its anchor exited): the next run gets the lock at once.
        third = _run(stack_dir, wait=5, env=env)
        assert third.communicate(timeout=20)[0].splitlines() == ["lock held"]
    finally:
        for proc in (first,):
            if proc.poll() is None:
                proc.kill()
        subprocess.run(["rm", "-f", lock_path(stack_dir), lock_path(stack_dir) + ".info"])


def test_a_backends_read_holds_its_credential_line_digests_never_a_line(tmp_path):
    """A backend's one read also says which values its credential file holds (a rotated
    gateway credential stays accepted until the gateway switched): digests of whole lines,
    run here by a real shell over a real file."""
    from ollama_gate.credentials import keys_content, line_digest
    from ollama_gate.secrets_file import Secret

    path = tmp_path / "keys.sha256"
    path.write_text(keys_content({"ollama-gate-gateway": Secret("ollama-gate-gateway", "og_" + "k" * 43)}))
    args = {**ARGS, "stack_dir": str(tmp_path / "stack"), "credential_lines": str(path)}
    assert "$t/credential-lines" not in HostState().command(**ARGS)
    command = HostState().command(**args)
    parts = [p for s, _, p in host_state_parts(**args) if s == "credential-lines"]
    assert parts == [{"path": str(path)}]
    # Only the sections this test is about (no Docker, no lock dir of the machine needed):
    from ollama_gate.facts.credentials import CredentialLineDigests
    out = subprocess.run(["sh", "-c", CredentialLineDigests().command(path=str(path))], capture_output=True,
                         text=True, check=True).stdout
    line = path.read_text().splitlines()[-1]
    assert HostState().process([f"{SECTION_MARK} credential-lines", *out.splitlines()]) == {
        "credential-lines": {"ollama-gate-gateway": line_digest(line)}}
    assert line.split(":")[1] not in out and "> $t/credential-lines" in command


def _printed(tmp_path, buffers: dict[str, str]):
    for name, text in buffers.items():
        (tmp_path / name).write_text(text)
    script = f"t={tmp_path}; " + buffers_printed(list(buffers))
    return subprocess.run(["sh", "-c", script], capture_output=True, text=True)


def test_the_buffers_are_printed_in_order_without_their_marks(tmp_path):
    done = BUFFERED_MARK + "\n"
    out = _printed(tmp_path, {"docker": "os_id=debian\n" + done, "packages": done, "credential-lines": "a b\n" + done})
    assert out.returncode == 0 and out.stderr == ""
    assert out.stdout.splitlines() == [f"{SECTION_MARK} docker", "os_id=debian", f"{SECTION_MARK} packages",
                                       f"{SECTION_MARK} credential-lines", "a b"]


def test_a_buffer_cut_short_or_never_written_fails_the_read_naming_it(tmp_path):
    done = BUFFERED_MARK + "\n"
    out = _printed(tmp_path, {"docker": "os_id=debian\n" + done, "packages": "curl ii\n", "images": "",
                              "memory": "16336020\n" + done})
    assert out.returncode == 1
    assert out.stderr.strip() == "the answers of packages images could not be buffered in /run/lock"
    # What was read is still printed (the read fails as a whole: nothing is taken from it).
    assert f"{SECTION_MARK} memory" in out.stdout


def test_the_tls_operations_certificate_and_fqdn_are_answered_by_the_one_read(monkeypatch):
    from ollama_gate.facts.tls import Certificate, Fqdn

    fake = FakeHost("h1")
    monkeypatch.setattr(snapshot, "host", fake)
    monkeypatch.setattr(snapshot, "_read", lambda args: {"lock": {"held": True}, "certificate": None,
                                                         "fqdn": "gpu1.example.com"})
    snapshot.declare(**ARGS, tls_cert="/opt/ollama-gate/tls/cert.pem", fqdn=True)
    assert snapshot.known(Certificate, path="/opt/ollama-gate/tls/cert.pem") is None
    assert snapshot.known(Fqdn) == "gpu1.example.com" and fake.asked == []
    command = HostState().command(**ARGS, tls_cert="/opt/ollama-gate/tls/cert.pem", fqdn=True)
    # Without openssl the certificate is unknown (None), as pyinfra answers a fact whose command is missing.
    assert "if command -v openssl >/dev/null 2>&1; then if [ -f /opt/ollama-gate/tls/cert.pem ]" in command
    assert "> $t/certificate" in command and "> $t/fqdn" in command
    assert "$t/certificate" not in HostState().command(**ARGS)
