"""The run's own summary lists every host of the inventory with its outcome, and the exit
status is non-zero when one is not verified; SIGINT is said and exits 130 (#14 item 8)."""

from __future__ import annotations

import signal
import subprocess
import time

import pytest

from ollama_gate import PROJECT_DIR

from . import faults
from .conftest import PYINFRA, Run, deploy, ssh

UNREACHABLE = "ollama-gate-lab-unreachable"


@pytest.fixture
def with_unreachable_host(tmp_path):
    """The lab's inventory plus a host nothing answers for (a closed port on 127.0.0.1)."""
    inventory = tmp_path / "with_unreachable.py"
    inventory.write_text(
        "import runpy\n"
        f"_lab = runpy.run_path({str(PROJECT_DIR / 'inventory' / 'lab.py')!r})\n"
        "lab_basic = _lab['lab_basic']\n"
        "lab_bearer = _lab['lab_bearer']\n"
        f"nowhere = [({UNREACHABLE!r}, dict(lab_basic[0][1], ssh_port=1, ssh_connect_retries=0))]\n")
    return inventory


def run_with(inventory, *args, timeout=900) -> Run:
    proc = subprocess.run([PYINFRA, "-y", *args, str(inventory), "deploy.py"], cwd=PROJECT_DIR,
                          capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    return Run(proc.returncode, proc.stdout + proc.stderr)


def summary(output: str) -> dict[str, str]:
    tail = output.split("--> ollama-gate: every host of the inventory:")[-1]
    rows = {}
    for line in tail.splitlines()[1:]:
        if not line.startswith("    ") or ": " not in line:
            break
        name, _, text = line.strip().partition(": ")
        rows[name] = text
    return rows


def test_every_host_is_listed_with_its_outcome(deployed, with_unreachable_host, request):
    lab = deployed["lab"]
    broken, healthy = lab["hosts"][0], lab["hosts"][1]
    # A directory where the compose file belongs: writing it fails on that host only.
    assert ssh(lab, 0, "mv /opt/ollama-gate/compose.yml /root/compose.yml.saved && "
                       "mkdir /opt/ollama-gate/compose.yml").returncode == 0
    try:
        run = run_with(with_unreachable_host)
    finally:
        assert ssh(lab, 0, "rm -rf /opt/ollama-gate/compose.yml && "
                           "mv /root/compose.yml.saved /opt/ollama-gate/compose.yml").returncode == 0
    assert run.returncode != 0
    rows = summary(run.output)
    assert list(rows) == [broken["name"], healthy["name"], UNREACHABLE], run.output[-3000:]
    assert rows[healthy["name"]] == f"deployed and verified ({healthy['proxy_url']})"
    assert rows[broken["name"]] == ("failed: /opt/ollama-gate/compose.yml exists and is not a regular "
                                    "file; move it away and rerun")
    assert rows[UNREACHABLE].startswith("unreachable")

    started = time.monotonic()
    healed = deploy()
    took = time.monotonic() - started
    assert healed.returncode == 0, healed.output[-3000:]
    assert set(summary(healed.output).values()) == {f"deployed and verified ({h['proxy_url']})"
                                                    for h in lab["hosts"]}
    faults.record(request, item="14.8", tried="one host unreachable, one failing, one healthy in one run",
                  holds="the summary lists all three (unreachable / failed: why / deployed and verified); "
                  "exit status non-zero", seconds=took, how="rerun with the hosts repaired")


def test_sigint_is_said_and_exits_non_zero(deployed, request):
    lab = deployed["lab"]
    proc = subprocess.Popen([PYINFRA, "-y", "inventory/lab.py", "deploy.py"], cwd=PROJECT_DIR,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            stdin=subprocess.DEVNULL, env=dict(__import__("os").environ, PYTHONUNBUFFERED="1"))
    output = []
    deadline = time.monotonic() + 300
    try:
        for line in proc.stdout:
            output.append(line)
            if "Starting operation: Ensure the stack directory" in line:
                proc.send_signal(signal.SIGINT)  # the pyinfra this test started, by its handle
                break
            assert time.monotonic() < deadline, "the run never reached the stack directory"
        rest, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    text = "".join(output) + rest
    assert proc.returncode == 130, text[-3000:]
    assert "--> ollama-gate: the run was INTERRUPTED (SIGINT); exit status 130" in text
    rows = summary(text)
    assert set(rows) == {h["name"] for h in lab["hosts"]}
    assert all(v.startswith("interrupted") for v in rows.values()), rows

    started = time.monotonic()
    rerun = deploy()
    took = time.monotonic() - started
    assert rerun.returncode == 0, rerun.output[-3000:]
    assert "endpoint verified" in rerun.output
    faults.record(request, item="14.8", tried="SIGINT (Ctrl-C) during a deploy", holds="the summary says "
                  "INTERRUPTED and lists each host as interrupted; exit status 130 (pyinfra alone: 0)",
                  seconds=took, how="rerun")
