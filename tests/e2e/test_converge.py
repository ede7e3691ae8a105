"""A rerun finishes what an interrupted or disturbed run left (#14 items 1, 2, 4, 9).

Each test causes the fault on a lab host for real (a deploy killed with SIGKILL at a chosen
step, reached over a slow link so the kill lands there; a removed or replaced credentials
directory; a second deploy at the same time), then
shows the rerun converging: exit 0, endpoint verified, and the running proxy serving what
is on disk. Each records its row of the README's fault table (tests/e2e/faults.py).
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
import time

import pytest

from ollama_gate import PROJECT_DIR
from lab.latency import Relay
from ollama_gate.facts.host import config_digest_command

from . import faults
from .conftest import PYINFRA, deploy, ssh
from .helpers import auth_header, lock_holder, status_of
from .test_deploy import credential, host_of_mode

STACK = "/opt/ollama-gate"
TWO_MB = 2 * 1024 * 1024


def post_status(url: str, header: str, size: int) -> int:
    """POST ``size`` bytes to url (a 127.0.0.1 lab port); the status, 0 when nothing answered."""
    return status_of(url, header, timeout=30, data=b"x" * size)


def killed_deploy(at: str, *args: str, after: float = 0.0, timeout: float = 300) -> str:
    """Start `pyinfra -y ARGS inventory/lab.py deploy.py` and SIGKILL it when its output
    shows ``at`` (plus ``after`` seconds); its output up to then."""
    proc = subprocess.Popen([PYINFRA, "-y", *args, "inventory/lab.py", "deploy.py"], cwd=PROJECT_DIR,
                            env=dict(os.environ, PYTHONUNBUFFERED="1"), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True)
    seen: list[str] = []
    timer = threading.Timer(timeout, proc.kill)  # bounded: the deploy this test started
    timer.start()
    try:
        for line in proc.stdout:
            seen.append(line)
            if at in line:
                time.sleep(after)
                proc.kill()
                break
    finally:
        timer.cancel()
        proc.kill()
        proc.wait(timeout=30)
    output = "".join(seen)
    assert at in output, output[-3000:]
    return output


def proxy_state(lab, index) -> tuple[str, str]:
    """(ID, state) of the proxy container, ("", "") when there is none."""
    out = ssh(lab, index, "docker inspect -f '{{.Id}} {{.State.Status}}' ollama-gate-proxy 2>/dev/null").stdout.split()
    return (out[0], out[1]) if len(out) == 2 else ("", "")


def loaded_is_on_disk(lab, index) -> bool:
    out = ssh(lab, index, f"cat {STACK}/.proxy-loaded; {config_digest_command(STACK)}").stdout.split()
    return len(out) == 2 and out[0] == out[1]


def leftovers(lab, index) -> list[str]:
    out = ssh(lab, index, f"find {STACK} -maxdepth 2 \\( -name '*.previous' -o -name '*.ollama-gate-new' \\)").stdout
    return sorted(out.split())


def test_killed_between_writing_the_config_and_the_reload_the_rerun_reloads(deployed, request):
    """#14.1: the run is killed after the proxy config was written and before the reload."""
    lab = deployed["lab"]
    index, host = host_of_mode(lab, "basic")
    name, value = credential(lab, host)
    header = auth_header("basic", name, value)
    generate = host["proxy_url"] + "/api/generate"
    assert post_status(generate, header, TWO_MB) != 413  # the default limit is 32m
    try:
        # A file the cleanup step must remove, so that step makes a remote command, over a
        # slow link (lab.latency): the kill lands after the config was written and before
        # the reload.
        ssh(lab, index, f"touch {STACK}/proxy/stray-from-an-old-version.txt")
        with Relay(host["ssh_port"], rtt_ms=400) as slow:
            killed_deploy("Starting operation: Remove files the current", "--limit", host["name"],
                          "--data", f"ssh_port={slow.port}", "--data", "proxy_max_body=1m")
        conf = ssh(lab, index, f"cat {STACK}/proxy/ollama-gate.conf").stdout
        assert re.search(r"client_max_body_size\s+1m;", conf), "the killed run did not write the config"
        # The fault: the file is right, the running proxy still has the old config.
        assert not loaded_is_on_disk(lab, index)
        assert post_status(generate, header, TWO_MB) != 413
        # What a run killed a moment earlier leaves too.
        ssh(lab, index, f"touch {STACK}/compose.yml.ollama-gate-new {STACK}/auth/htpasswd.ollama-gate-new")

        started = time.monotonic()
        rerun = deploy("--limit", host["name"], "--data", "proxy_max_body=1m")
        seconds = time.monotonic() - started
        assert rerun.returncode == 0, rerun.output[-4000:]
        assert "endpoint verified" in rerun.output
        assert "Reload the proxy unless it has loaded the config on disk (nginx -t first)." in rerun.changed()
        # The lock of the killed run ended with its connection: the rerun did not wait for it.
        assert seconds < 120
        assert post_status(generate, header, TWO_MB) == 413
        assert loaded_is_on_disk(lab, index)
        assert leftovers(lab, index) == []
        again = deploy("--limit", host["name"], "--data", "proxy_max_body=1m")
        assert again.returncode == 0 and again.changed() == {}, again.output[-3000:]
        faults.record(request, item="14.1", tried="deploy with proxy_max_body=1m killed (SIGKILL) between "
                      "writing the proxy config and the reload, then stray uploads left",
                      holds="rerun reloads (the loaded-config digest differs from the disk), a 2 MB POST "
                      "gets 413, no .previous or .ollama-gate-new left, the next rerun changes nothing",
                      seconds=seconds, how="rerun with the same settings")
    finally:
        restored = deploy("--limit", host["name"])
        assert restored.returncode == 0, restored.output[-4000:]
    assert post_status(generate, header, TWO_MB) != 413


@pytest.mark.parametrize("how,command", [
    ("removed", f"rm -rf {STACK}/auth"),
    ("replaced by a copy", f"cp -a {STACK}/auth {STACK}/auth.new && rm -rf {STACK}/auth && mv {STACK}/auth.new {STACK}/auth"),
])
def test_a_removed_or_replaced_credentials_directory_gets_a_new_proxy(deployed, request, how, command):
    """#14.2: the proxy keeps the deleted directory mounted until it is re-created."""
    lab = deployed["lab"]
    # Basic: nginx reads .htpasswd on every request, so the fault shows at once.
    index, host = host_of_mode(lab, "basic")
    name, value = credential(lab, host)
    header = auth_header("basic", name, value)
    tags = host["proxy_url"] + "/api/tags"
    before, _ = proxy_state(lab, index)
    assert ssh(lab, index, command).returncode == 0
    if how == "removed":
        # The fault: the running proxy reads the deleted directory; nothing lets a client in.
        assert status_of(tags, header) != 200
    started = time.monotonic()
    rerun = deploy("--limit", host["name"])
    seconds = time.monotonic() - started
    if rerun.returncode != 0:
        deploy("--limit", host["name"])  # leave the host as the next test expects
    assert rerun.returncode == 0, rerun.output[-4000:]
    assert "endpoint verified" in rerun.output
    after, state = proxy_state(lab, index)
    assert state == "running" and after != before
    assert "Ensure the Compose stack runs as configured." in rerun.changed()
    assert status_of(tags, header) == 200
    again = deploy("--limit", host["name"])
    assert again.returncode == 0 and again.changed() == {}, again.output[-3000:]
    assert proxy_state(lab, index)[0] == after
    faults.record(request, item="14.2", tried=f"the credentials directory {how} under the running proxy",
                  holds="rerun re-creates the proxy (its mount was not the directory on disk), verified, "
                  "the next rerun changes nothing", seconds=seconds, how="rerun with the same settings")


def test_killed_during_compose_up_the_rerun_starts_the_proxy(deployed, request):
    """#14.4: SIGKILL while `docker compose up` creates the proxy leaves it Created."""
    lab = deployed["lab"]
    index, host = host_of_mode(lab, "basic")
    ssh(lab, index, "docker rm -f ollama-gate-proxy")
    with Relay(host["ssh_port"], rtt_ms=300) as slow:
        killed_deploy("Starting operation: Ensure the Compose stack runs", "--limit", host["name"],
                      "--data", f"ssh_port={slow.port}", after=1.0)
    # A `docker compose up` the killed run started on the host may still be finishing.
    ssh(lab, index, "for i in $(seq 60); do pgrep -f '^docker compose' >/dev/null || break; sleep 1; done")
    _, state = proxy_state(lab, index)
    if state != "created":
        # The kill landed before or after Compose created it: make the state SIGKILL leaves
        # mid-`up` (created, never started) the way Compose makes it.
        ssh(lab, index, f"docker rm -f ollama-gate-proxy; docker compose --project-directory {STACK} "
                        f"-f {STACK}/compose.yml create proxy")
    assert proxy_state(lab, index)[1] == "created"
    assert status_of(host["proxy_url"] + "/api/tags") == 0
    started = time.monotonic()
    rerun = deploy("--limit", host["name"])
    seconds = time.monotonic() - started
    assert rerun.returncode == 0, rerun.output[-4000:]
    assert "endpoint verified" in rerun.output
    assert proxy_state(lab, index)[1] == "running"
    assert loaded_is_on_disk(lab, index)
    again = deploy("--limit", host["name"])
    assert again.returncode == 0 and again.changed() == {}, again.output[-3000:]
    faults.record(request, item="14.4", tried="deploy killed (SIGKILL) during `docker compose up`, "
                  "the proxy left Created", holds="rerun starts the proxy and reloads it, verified, "
                  "the next rerun changes nothing", seconds=seconds, how="rerun with the same settings")


def test_two_deploys_at_once_take_turns(deployed, request):
    """#14.9: two deploys to the same host at the same time, both with a change."""
    lab = deployed["lab"]
    index, host = host_of_mode(lab, "basic")
    args = ("--limit", host["name"], "--data", "proxy_read_timeout=601")
    runs: dict[int, object] = {}

    def run(i):
        runs[i] = deploy(*args)

    try:
        started = time.monotonic()
        threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=900)
        seconds = time.monotonic() - started
        for r in runs.values():
            assert r.returncode == 0, r.output[-4000:]
            assert "endpoint verified" in r.output
            assert "already in use" not in r.output and "cannot stat" not in r.output
        # One run made the change; the other waited for the lock and found it made.
        changed = sorted(bool(r.changed()) for r in runs.values())
        assert changed == [False, True], [r.changed() for r in runs.values()]
    finally:
        restored = deploy("--limit", host["name"])
        assert restored.returncode == 0, restored.output[-4000:]
    faults.record(request, item="14.9", tried="two deploys with the same change to one host at the same time",
                  holds="they take turns on the host's lock: both exit 0 and verify, only one reports the "
                  "change", seconds=seconds, how="both runs")


def test_a_deploy_that_cannot_get_the_lock_says_since_when(deployed, request):
    """#14.9: another run holds the host longer than this run waits."""
    lab = deployed["lab"]
    index, host = host_of_mode(lab, "bearer")
    # Another deploy's lock, held for 20 s by a shell on the host.
    holder = lock_holder(lab, index, "2026-11-27T16:10:03Z from the test")
    try:
        time.sleep(2)
        started = time.monotonic()
        refused = deploy("--limit", host["name"], env={"OLLAMA_GATE_LOCK_WAIT": "3"})
        seconds = time.monotonic() - started
        assert refused.returncode != 0
        assert ("another deploy is running on this host since 2026-11-27T16:10:03Z from the test "
                "(waited 3 s for it to finish)") in refused.output
        assert refused.changed() == {}
    finally:
        holder.wait(timeout=60)
    after = deploy("--limit", host["name"])
    assert after.returncode == 0 and after.changed() == {}, after.output[-3000:]
    faults.record(request, item="14.9", tried="a deploy while another run holds the host's lock longer than "
                  "it waits (OLLAMA_GATE_LOCK_WAIT=3)", holds="refused before any change: \"another deploy is "
                  "running on this host since <time> from <address>\"; the next run gets the lock",
                  seconds=seconds, how="refused before any change")
