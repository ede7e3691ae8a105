"""The run's one read of a host (HostState) and its lock (HostLock), run by a real shell here."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
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
    monkeypatch.setattr(snapshot, "_read", lambda args, stdin=None: reads.append(args) or {
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
    monkeypatch.setattr(snapshot, "_read", lambda args, stdin=None: {"lock": {"held": True}, "certbot": None})
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


# The anchor as sshd is one: it runs the command with pipes for stdout and stderr, waits
# for both to close (the end of the SSH channel), and lives on meanwhile.
SSHD_LIKE = """
import subprocess, sys
p = subprocess.Popen(["sh", "-c", sys.argv[1]], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
try:
    out, _ = p.communicate(timeout=5)
    print("closed " + " | ".join(out.splitlines()))
except subprocess.TimeoutExpired:
    print("held open")
"""


@needs_flock
def test_the_lock_holder_keeps_no_pipe_of_the_session_open(tmp_path):
    """Over SSH the command's output ends when every process has closed the session's
    stdout and stderr; the lock's holder lives on, so it must keep neither (a holder that
    kept a copy of stderr hung every run at its first operation)."""
    stack_dir = f"/tmp/ollama-gate-lock-test-{uuid.uuid4().hex[:8]}"
    script = HostState().command(**{**ARGS, "stack_dir": stack_dir}).split("; [ -n \"$og_held\" ]")[0]
    assert "flock" in script and "lock held" in script
    try:
        anchor = subprocess.run([sys.executable, "-c", SSHD_LIKE, script], capture_output=True, text=True, timeout=30)
        assert anchor.stdout.strip() == f"closed {SECTION_MARK} lock | lock held"
    finally:
        subprocess.run(["rm", "-f", lock_path(stack_dir), lock_path(stack_dir) + ".info"])


@needs_flock
def test_a_lock_that_cannot_be_taken_says_why_and_is_not_held(tmp_path):
    """What the holder says on its pipe besides "held" is why the lock was not taken (here
    a flock that fails as on a file it cannot lock): the run fails with it, never waits or
    reads as busy."""
    (tmp_path / "flock").write_text("#!/bin/sh\necho 'flock: 9: Bad file descriptor' >&2; exit 64\n")
    (tmp_path / "flock").chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}
    stack_dir = f"/tmp/ollama-gate-lock-test-{uuid.uuid4().hex[:8]}"
    try:
        started = time.monotonic()
        out, _ = _run(stack_dir, wait=5, env=env).communicate(timeout=20)
        assert time.monotonic() - started < 3
        assert HostLock().process(out.splitlines()) == {
            "held": False, "error": f"cannot take {lock_path(stack_dir)}: flock: 9: Bad file descriptor"}
    finally:
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
    monkeypatch.setattr(snapshot, "_read", lambda args, stdin=None: {"lock": {"held": True}, "certificate": None,
                                                         "fqdn": "gpu1.example.com"})
    snapshot.declare(**ARGS, tls_cert="/opt/ollama-gate/tls/cert.pem", fqdn=True)
    assert snapshot.known(Certificate, path="/opt/ollama-gate/tls/cert.pem") is None
    assert snapshot.known(Fqdn) == "gpu1.example.com" and fake.asked == []
    command = HostState().command(**ARGS, tls_cert="/opt/ollama-gate/tls/cert.pem", fqdn=True)
    # Without openssl the certificate is unknown (None), as pyinfra answers a fact whose command is missing.
    assert "if command -v openssl >/dev/null 2>&1; then if [ -f /opt/ollama-gate/tls/cert.pem ]" in command
    assert "> $t/certificate" in command and "> $t/fqdn" in command
    assert "$t/certificate" not in HostState().command(**ARGS)


def _stack_files(stack_dir) -> dict:
    from ollama_gate.facts.stack import StackFiles
    out = subprocess.run(["sh", "-c", StackFiles().command(stack_dir=str(stack_dir))], capture_output=True,
                         text=True, check=True).stdout
    return StackFiles().process(out.splitlines())


def _shell_digest(stack_dir) -> str:
    from ollama_gate.facts.host import config_digest_command
    return subprocess.run(["sh", "-c", config_digest_command(str(stack_dir))], capture_output=True,
                          text=True).stdout.strip()


def test_the_reads_proxy_digest_is_the_one_the_reload_records(tmp_path):
    """Within HostState the digest of the proxy's config set on disk is computed here from
    the files section; the reload records the shell's (config_digest_command). Both over
    the same real directory: the same digest, and each file that counts changes it."""
    from ollama_gate.facts.host import config_digest

    stack = tmp_path / "ollama-gate"
    for name, text in {"compose.yml": "services: {}\n", ".env": "A=1\n", "proxy/ollama-gate.conf": "server {}\n",
                       "proxy/ollama-gate.conf.previous": "old\n", "proxy/x.ollama-gate-new": "half\n",
                       "proxy/.hidden": "h\n", "tls/cert.pem": "c\n", "auth/htpasswd": "u:h\n",
                       "auth/backend.conf": "set $x y;\n", "auth/.conf": "z\n", "proxy/deeper/no.conf": "n\n",
                       "B-upper/skip": "s\n"}.items():
        (stack / name).parent.mkdir(parents=True, exist_ok=True)
        (stack / name).write_text(text)
    first = _shell_digest(stack)
    assert len(first) == 64 and config_digest(_stack_files(stack)) == first
    # What the proxy loads changes it; the credential file (read per request), a .previous
    # copy and the stack's other files do not.
    for name, counts in [("auth/htpasswd", False), ("proxy/ollama-gate.conf.previous", False),
                         ("compose.yml", False), ("tls/cert.pem", True), ("auth/backend.conf", True),
                         ("proxy/.hidden", True)]:
        before = _shell_digest(stack)
        (stack / name).write_text((stack / name).read_text() + "#\n")
        after = _shell_digest(stack)
        assert (after != before) is counts, name
        assert config_digest(_stack_files(stack)) == after, name
    # A stack directory without proxy files, and none at all, as the shell prints them.
    empty = tmp_path / "empty"
    empty.mkdir()
    assert config_digest(_stack_files(empty)) == _shell_digest(empty) == hashlib.sha256(b"").hexdigest()
    assert config_digest(_stack_files(tmp_path / "missing")) == _shell_digest(tmp_path / "missing") == ""
    # A name the shell escapes or splits: not reproduced here, so "" (the proxy then counts
    # as not having loaded the set on disk, and the reload records the shell's digest).
    (stack / "proxy" / "a b.conf").write_text("x\n")
    assert config_digest(_stack_files(stack)) == ""
    (stack / "proxy" / "a b.conf").unlink()
    assert config_digest(_stack_files(stack)) == _shell_digest(stack)
    (stack / "tls" / "a\rb.pem").write_text("x\n")
    assert config_digest(_stack_files(stack)) == ""


def test_the_images_of_the_one_inspect_read_as_docker_image_ls_prints_them():
    """The images section within HostState: the references of each inspected image, split
    by a real awk into what ``docker image ls`` prints, so DockerImageRefs reads them as
    before (a registry's port is not a tag; a digest is not a tag)."""
    from ollama_gate.facts import inspected
    from ollama_gate.facts.images import DockerImageRefs

    containers = ("/ollama-gate-proxy running 41 project=ollama-gate service=proxy hash=ab "
                  "/opt/ollama-gate/proxy=/etc/nginx/conf.d published=80/tcp->0.0.0.0:8880")
    lines = [containers, "image nginx:1.28.0 nginx@sha256:" + "a" * 64,
             "image registry.lan:5000/team/ollama:0.12.6 registry.lan:5000/team/ollama:latest", "image"]
    out = subprocess.run(["sh", "-c", f"{inspected.VAR}=$1; " + DockerImageRefs().shared_command(), "sh",
                          "\n".join(lines)], capture_output=True, text=True, check=True).stdout
    assert out.splitlines()[:2] == ["nginx 1.28.0 <none>", "nginx <none> sha256:" + "a" * 64]
    assert DockerImageRefs().process(out.splitlines()) == [
        "nginx:1.28.0", "nginx@sha256:" + "a" * 64, "registry.lan:5000/team/ollama:0.12.6",
        "registry.lan:5000/team/ollama:latest"]
    # The read asks the engine about the declared images with the containers, in one call.
    command = HostState().command(**{**ARGS, "images": ["nginx:1.28.0", "ollama/ollama:0.12.6"]})
    assert command.count("docker inspect") == 1 and "docker image ls" not in command
    assert "ollama-gate-proxy ollama-gate-ollama nginx:1.28.0 ollama/ollama:0.12.6 2>/dev/null" in command


# A curl for the probes section: reads its config from stdin (-K -) as the real one does,
# answers each request (200 with the Authorization header it was given, 401 without) in
# the files and mark lines the real one writes for HttpProbes' command.
FAKE_CURL = r"""#!/usr/bin/env python3
import sys
config = sys.stdin.read()
for i, block in enumerate(config.split("next\n")):
    authorized = 'header = "Authorization: ' in block
    status = 200 if authorized else 401
    open(f"{i}.head", "w").write(f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n\r\n")
    open(f"{i}.body", "w").write('{"models": [{"name": "gemma3:1b"}]}' if authorized else "")
    print(f"\n__OLLAMA_GATE_HTTP_ANSWER__ {i} {status} 0")
"""

# The anchor as sshd is one, with the session's stdin: written, then closed.
SSHD_WITH_STDIN = """
import subprocess, sys
p = subprocess.Popen(["sh", "-c", sys.argv[1]], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                     stderr=subprocess.PIPE, text=True)
try:
    out, _ = p.communicate(sys.stdin.read(), timeout=20)
    sys.stdout.write(out)
except subprocess.TimeoutExpired:
    print("held open")
"""


@needs_flock
def test_the_probes_ride_along_reading_their_credentials_from_the_reads_stdin(tmp_path):
    """The verification's probes are a section of the read, started before the rest: their
    curl runs in the background and still gets the config written to the read's stdin
    (a background job's stdin is /dev/null; the section takes the read's stdin on fd 3).
    The config, credentials included, is never on the command line."""
    from ollama_gate.facts.http import curl_batch_config

    (tmp_path / "curl").write_text(FAKE_CURL)
    (tmp_path / "curl").chmod(0o755)
    stack_dir = f"/tmp/ollama-gate-probe-test-{uuid.uuid4().hex[:8]}"
    secret = "og_Secret" + uuid.uuid4().hex
    requests = ["GET http://127.0.0.1:8880/api/tags", "GET http://127.0.0.1:8880/api/tags"]
    stdin = curl_batch_config([("GET", "http://127.0.0.1:8880/api/tags", None, 10, False, f"Bearer {secret}"),
                               ("GET", "http://127.0.0.1:8880/api/tags", None, 10, False, None)])
    names_file = f"{stack_dir}/auth/api-keys"
    command = HostState().command(**{**ARGS, "stack_dir": stack_dir, "probes": requests,
                                     "probes_names_file": names_file})
    assert secret not in command
    # Started before the docker inspect the other sections wait for.
    assert command.index("> $t/endpoint") < command.index("docker inspect") < command.index("> $t/docker")
    assert command.index("exec 3<&0") > command.index("flock") and "exec 3<&-" in command
    os.makedirs(f"{stack_dir}/auth")
    with open(names_file, "w") as f:
        f.write(f"ci {hashlib.sha256(secret.encode()).hexdigest()}\n")
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}
    try:
        done = subprocess.run([sys.executable, "-c", SSHD_WITH_STDIN, command], input=stdin.getvalue(),
                              capture_output=True, text=True, timeout=60, env=env)
        state = HostState().process(done.stdout.splitlines())
        assert state["lock"]["held"] is True
        answers = state["endpoint"]["answers"]
        assert [a["status"] for a in answers] == [200, 401]
        assert answers[0]["models"] == ["gemma3:1b"]
        assert state["endpoint"]["names"] is not None
    finally:
        subprocess.run(["rm", "-rf", stack_dir, lock_path(stack_dir), lock_path(stack_dir) + ".info"])
