"""Benchmark: what one lab host's CPU pays for a no-change rerun: its read, an SSH login (#15).

    .venv/bin/python bench/host_cpu.py [--runs 30] [--host 1] [--project DIR]

On a machine where pyinfra and the lab hosts share the cores, a rerun of many hosts waits
for the hosts' own CPU: each host more adds it. This prints, for one lab host of the
running lab (`python -m lab up`, deployed), the CPU its containers' cgroups use (the host
container and the ones its Docker runs: sshd, the commands, dockerd, Ollama, the proxy),
per run, median of --runs:

- the host-state read: the exact command a rerun sends (taken from a -vvv rerun limited to
  that host), run in a loop inside the host (it takes the stack's lock, as a deploy does).
  Its section with the verification's requests gets no curl config here (the config, with
  the credentials, is the read's stdin and never printed), so that curl makes no request:
  the figure leaves the requests out (their cost on the host, ~28 ms, was measured alone);
- an SSH login with nothing run (paramiko, as pyinfra connects: key exchange, auth, PAM's
  session) and a login that runs one command.

The host's idle rate (Ollama's health checks every 10 s, dockerd) is measured before and
subtracted. --project takes the read from another checkout's deploy.py (e.g. an older
commit unpacked with `git archive`, its .lab linked to this one's), for a before/after.
Prints figures; asserts nothing (a benchmark, not a test).
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import rerun_bench as rb  # noqa: E402
from bench.rerun_bench import PYINFRA, STATE, _lab_container_ids, lab_cpu  # noqa: E402
from ollama_gate.facts.host import SECTION_MARK  # noqa: E402


def idle_rate(seconds: float) -> float:
    start = lab_cpu()
    time.sleep(seconds)
    return (lab_cpu() - start) / seconds


def per_run(idle: float, action, runs: int) -> list[float]:
    """CPU seconds of the host per call of ``action`` (idle rate subtracted), one figure a call."""
    figures = []
    for _ in range(runs):
        used, start = lab_cpu(), time.monotonic()
        action()
        figures.append(lab_cpu() - used - idle * (time.monotonic() - start))
    return figures


def read_command(name: str, project: Path) -> str:
    """The host-state read a no-change rerun of ``name`` sends (its -vvv `>>>` line)."""
    run = subprocess.run([PYINFRA, "-y", "-vvv", "--limit", name, "inventory/lab.py", "deploy.py"],
                         cwd=project, capture_output=True, text=True, timeout=600)
    for line in (run.stdout + run.stderr).splitlines():
        m = re.match(rf"^\[{re.escape(name)}\] >>> (.*)$", line)
        if m and SECTION_MARK in m.group(1):
            return shlex.split(m.group(1))[-1]  # sh -c '<read>'
    sys.exit(f"no host-state read in a -vvv rerun of {name}:\n{(run.stdout + run.stderr)[-2000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--host", type=int, default=1, help="which lab host (1-based)")
    parser.add_argument("--project", type=Path, default=ROOT, help="checkout whose deploy.py gives the read")
    args = parser.parse_args()
    if not STATE.exists():
        sys.exit("no lab: start it with `python -m lab up` and deploy it first")
    lab = json.loads(STATE.read_text())
    entry = lab["hosts"][args.host - 1]
    name = entry["name"]
    rb.LAB_CONTAINERS[:] = _lab_container_ids([name])  # what lab_cpu sums: this host only
    if lab_cpu() is None:
        sys.exit("the lab host's CPU cannot be read here (no cgroup v1 cpuacct or v2 cpu.stat of its containers)")

    script = read_command(name, args.project)
    with tempfile.NamedTemporaryFile("w", suffix=".sh") as f:
        f.write(script)
        f.flush()
        subprocess.run(["docker", "cp", f.name, f"{name}:/root/og-bench-read.sh"], check=True)
    # `timeout` is the anchor the lock's holder watches (as sshd-session is over SSH).
    in_host = ["docker", "exec", name, "timeout", "60", "sh", "/root/og-bench-read.sh"]
    idle = idle_rate(10.0)  # a health check comes every 10 s: one in each window
    print(f"{name}: idle {idle * 1000:.1f} ms of CPU per second (health checks, dockerd); "
          f"{args.runs} runs each, medians")

    def read():
        done = subprocess.run(in_host, capture_output=True, text=True)
        assert done.returncode == 0 and f"{SECTION_MARK} lock" in done.stdout, done.stderr
    exec_only = ["docker", "exec", name, "timeout", "60", "true"]
    docker_exec = per_run(idle, lambda: subprocess.run(exec_only, check=True), args.runs)
    reads = per_run(idle, read, args.runs)
    base = statistics.median(docker_exec)
    print(f"  host-state read: {(statistics.median(reads) - base) * 1000:.1f} ms "
          f"({len(script)} bytes; `docker exec ... true` alone, subtracted: {base * 1000:.1f} ms)")

    import paramiko

    def login(command: str | None):
        client = paramiko.SSHClient()
        client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
        client.connect(entry["ssh_host"], port=entry["ssh_port"], username=entry["ssh_user"],
                       key_filename=lab["ssh_key"], look_for_keys=False, allow_agent=False)
        if command:
            _, out, _ = client.exec_command(command)
            out.read()
        client.close()
        time.sleep(0.2)  # sshd's session ends after the client has gone
    print(f"  SSH login, nothing run: {statistics.median(per_run(idle, lambda: login(None), args.runs)) * 1000:.1f} ms")
    print(f"  SSH login running `true`: {statistics.median(per_run(idle, lambda: login('true'), args.runs)) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
