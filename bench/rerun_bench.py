"""Benchmark: a no-change rerun of deploy.py, in remote commands and wall time (issue #15).

    .venv/bin/python bench/rerun_bench.py [--runs 3] [--rtt-ms 50] [--keep] [--project DIR]

Grows the lab to 4 hosts (python -m lab up --hosts 4), deploys once so every host is
converged, then for a rerun that changes nothing prints:

- remote commands per host (the `>>>` lines pyinfra prints at -vvv, counted per host),
  and that the run reported zero changes and printed no hash of the credential files;
- wall time with 1, 2 and 4 hosts (--limit), median of --runs, the host counts taking
  turns (1, 2, 4, 1, 2, 4, ...) so that a machine whose speed drifts weighs on each alike;
- the same with --rtt-ms more round trip to every host: each host's SSH port is reached
  through lab.latency's relay (this machine's kernel has no sch_netem for `tc qdisc ...
  netem` inside the hosts; the relay delays every packet of the SSH connection instead,
  the same to pyinfra).

Beside each wall time it prints what it is made of, so contention on a shared machine can
be told from the deploy's own cost: pyinfra's CPU time (median), how long the remote
commands took as pyinfra waited for them (the host-state read, slowest host, and the
verification when it has a command of its own: a run that changed nothing on a host is
verified by the requests of its read; bench/timed_pyinfra.py records them; the read is sent
while deploy.py is prepared, so its time overlaps the preparation), the CPU the lab hosts themselves used per run
(their containers' cgroups: sshd, the commands, dockerd, Ollama and the proxy; with their
idle rate for comparison), and the load average.

Targets (#15): <= 6 remote commands per host, <= 1.5 s for one host, 4 hosts <= 1.3x one
host, <= 3 s for one host with 50 ms more round trip. --project runs another checkout's
deploy.py (e.g. an older commit, unpacked with `git archive`) against this lab, for a
before/after. Prints figures; asserts nothing (a benchmark, not a test).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lab.latency import Relay  # noqa: E402

PY = str(ROOT / ".venv" / "bin" / "python")
PYINFRA = str(ROOT / ".venv" / "bin" / "pyinfra")
# pyinfra's CLI, recording each remote command's duration and pyinfra's CPU time.
TIMED_PYINFRA = [PY, str(ROOT / "bench" / "timed_pyinfra.py")]
TIMES_FILE = ROOT / ".lab" / "bench-times.json"
STATE = ROOT / ".lab" / "lab.json"
# Inventory that reaches each lab host through its relay: OLLAMA_GATE_BENCH_SSH_PORTS.
RELAYED_INVENTORY = ROOT / "bench" / "lab_relayed_inventory.py"


def lab(*args: str) -> None:
    subprocess.run([PY, "-m", "lab", *args], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)


CPU: list[float] = []  # user+sys seconds of each deploy process (this machine's share of the work)
REMOTE: list[dict] = []  # per run: command kind -> seconds (slowest host), as pyinfra waited
HOST_CPU: list[float] = []  # per run: CPU seconds the lab hosts used (all their processes)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _cgroup_usage(container_id: str) -> float | None:
    """CPU seconds a container has used (cgroup v1 cpuacct or v2 cpu.stat), None if unknown."""
    v1 = Path(f"/sys/fs/cgroup/cpuacct/docker/{container_id}/cpuacct.usage")
    if v1.is_file():
        return int(v1.read_text()) / 1e9
    v2 = Path(f"/sys/fs/cgroup/system.slice/docker-{container_id}.scope/cpu.stat")
    if v2.is_file():
        usage = dict(line.split() for line in v2.read_text().splitlines())
        return int(usage["usage_usec"]) / 1e6
    return None


LAB_CONTAINERS: list[str] = []  # the lab hosts and the containers each runs (filled by main)


def lab_cpu() -> float | None:
    used = [_cgroup_usage(c) for c in LAB_CONTAINERS]
    return sum(u for u in used if u is not None) if used and any(u is not None for u in used) else None


def _lab_container_ids(names: list[str]) -> list[str]:
    ids = []
    for name in names:
        inspect = subprocess.run(["docker", "inspect", "-f", "{{.Id}}", name], capture_output=True, text=True)
        inner = subprocess.run(["docker", "exec", name, "docker", "ps", "-q", "--no-trunc"],
                               capture_output=True, text=True)
        ids += inspect.stdout.split() + inner.stdout.split()
    return ids


def deploy(project: Path, *args: str, inventory: str = "inventory/lab.py", env: dict | None = None,
           verbose: bool = False) -> tuple[float, str]:
    command = [*TIMED_PYINFRA, "-y", *(["-vvv"] if verbose else []), *args, inventory, "deploy.py"]
    cpu = _children_cpu()
    hosts_cpu = lab_cpu()
    TIMES_FILE.unlink(missing_ok=True)
    start = time.monotonic()
    proc = subprocess.run(command, cwd=project, capture_output=True, text=True, timeout=1800,
                          stdin=subprocess.DEVNULL,
                          env=dict(os.environ, OLLAMA_GATE_BENCH_TIMES=str(TIMES_FILE), **(env or {})))
    elapsed = time.monotonic() - start
    CPU.append(_children_cpu() - cpu)
    if hosts_cpu is not None:
        HOST_CPU.append(lab_cpu() - hosts_cpu)
    if TIMES_FILE.is_file():
        slowest: dict[str, float] = {}
        for c in json.loads(TIMES_FILE.read_text())["commands"]:
            slowest[c["what"]] = max(slowest.get(c["what"], 0.0), c["seconds"])
        REMOTE.append(slowest)
    if proc.returncode != 0:
        sys.exit(f"deploy failed:\n{(proc.stdout + proc.stderr)[-3000:]}")
    if "No host matches found" in proc.stdout + proc.stderr:
        sys.exit(f"--limit matched no host: {' '.join(args)}")
    return elapsed, proc.stdout + proc.stderr


def limit_args(names: list[str]) -> tuple[str, ...]:
    """--limit once per host: pyinfra 3 reads "a,b" as one pattern that matches no host
    (and a run on no host finishes in a blink: a 2-host figure of 0.4 s was that)."""
    return tuple(arg for name in names for arg in ("--limit", name))


def changed_ops(output: str) -> int:
    table = output.split("--> Results:")[-1]
    total = [line for line in table.splitlines() if line.strip().startswith("Grand total")]
    return int(total[0].split()[3]) if total and total[0].split()[3] != "-" else 0


def commands_per_host(output: str, hosts: list[str]) -> dict[str, int]:
    return {h: len(re.findall(rf"^\[{re.escape(h)}\] >>> ", output, flags=re.M)) for h in hosts}


def interleaved_runs(project: Path, runs: int, limits: dict, **kwargs) -> dict:
    """``runs`` rounds, each running every entry of ``limits`` (label -> --limit args) once,
    in turn: a machine whose speed drifts during the benchmark (other tenants of the host,
    a lab host's health checks) then weighs on every host count alike, which series run
    one after the other do not (the 4-host series would see other minutes than the 1-host
    one). Returns label -> (median, times, what they were made of)."""
    kept: dict = {label: {"times": [], "cpu": [], "remote": [], "hosts": []} for label in limits}
    for _ in range(runs):
        for label, limit in limits.items():
            del CPU[:], REMOTE[:], HOST_CPU[:]
            elapsed, out = deploy(project, *limit, **kwargs)
            if changed_ops(out):
                sys.exit(f"a no-change rerun changed something:\n{out[-3000:]}")
            k = kept[label]
            k["times"].append(elapsed)
            k["cpu"] += CPU
            k["remote"] += REMOTE
            k["hosts"] += HOST_CPU
    return {label: (statistics.median(k["times"]), k["times"], made_of(k["cpu"], k["remote"], k["hosts"]))
            for label, k in kept.items()}


def fmt(times: list[float]) -> str:
    return ", ".join(f"{t:.2f}" for t in times)


def made_of(cpu: list[float], remote: list[dict], hosts_cpu: list[float]) -> str:
    """What some runs were made of (medians): pyinfra's CPU, the remote commands as pyinfra
    waited for them (slowest host), the lab hosts' CPU, the load."""
    parts = [f"pyinfra's CPU {statistics.median(cpu):.2f} s"]
    for what, label in (("state", "host-state read"), ("verify", "verification"), ("other", "other commands")):
        seconds = [r[what] for r in remote if what in r]
        if seconds:
            parts.append(f"{label} {statistics.median(seconds):.2f} s")
    if hosts_cpu:
        parts.append(f"lab hosts' CPU {statistics.median(hosts_cpu):.2f} s")
    parts.append(f"load average {os.getloadavg()[0]:.1f}")
    return "; ".join(parts)


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rtt-ms", type=float, default=50)
    parser.add_argument("--keep", action="store_true", help="leave the lab at 4 hosts")
    parser.add_argument("--project", type=Path, default=ROOT, help="checkout whose deploy.py runs")
    args = parser.parse_args()
    project = args.project.resolve()
    os.environ.pop("OLLAMA_GATE_LAB_SECRETS", None)

    before = len(json.loads(STATE.read_text())["hosts"]) if STATE.exists() else 2
    lab("up", "--hosts", "4")
    entries = json.loads(STATE.read_text())["hosts"]
    hosts = [h["name"] for h in entries]
    first, _ = deploy(project)
    LAB_CONTAINERS[:] = _lab_container_ids(hosts)
    print(f"project: {project}; {os.cpu_count()} cores; uptime: {uptime()}")
    print("(wall times on a loaded machine are mostly waiting for a core: see each line's CPU figures)")
    print(f"converge 4 hosts (first deploy where needed): {first:.1f} s")
    idle = lab_cpu()
    if idle is not None:
        time.sleep(3)
        print(f"the 4 lab hosts' idle CPU (Ollama's health checks, dockerd): {(lab_cpu() - idle) / 3:.3f} s per second")

    _, out = deploy(project, verbose=True)
    counts = commands_per_host(out, hosts)
    hashes = re.findall(r"\{SSHA\}|\$2[aby]\$|\$apr1\$|\$6\$", out)
    print(f"remote commands per host (no-change rerun, -vvv): {counts}")
    print(f"changes reported: {changed_ops(out)}; credential hashes in the -vvv output: {len(hashes)}")

    # The host counts take turns (1, 2, 4, 1, 2, 4, ...): see interleaved_runs.
    figures = {}
    local = interleaved_runs(project, args.runs, {n: limit_args(hosts[:n]) if n < 4 else () for n in (1, 2, 4)})
    for n, (figures[n], times, parts) in local.items():
        print(f"no-change rerun, {n} host(s): {figures[n]:.2f} s (median of {args.runs}: {fmt(times)}; {parts})")

    with ExitStack() as stack:
        relays = {h["name"]: stack.enter_context(Relay(h["ssh_port"], rtt_ms=args.rtt_ms)) for h in entries}
        env = {"OLLAMA_GATE_BENCH_SSH_PORTS": json.dumps({name: r.port for name, r in relays.items()})}
        wan = {}
        far = interleaved_runs(project, args.runs, {n: limit_args(hosts[:n]) if n < 4 else () for n in (1, 4)},
                               inventory=str(RELAYED_INVENTORY), env=env)
        for n, (wan[n], times, parts) in far.items():
            print(f"no-change rerun, {n} host(s), +{args.rtt_ms:.0f} ms round trip: {wan[n]:.2f} s "
                  f"(median of {args.runs}: {fmt(times)}; {parts})")

    worst = max(counts.values())
    print(f"4 hosts / 1 host: {figures[4] / figures[1]:.2f}x")
    print(f"target <= 6 remote commands per host: {'met' if worst <= 6 else 'MISSED'} ({worst})")
    print(f"target 1 host <= 1.5 s: {'met' if figures[1] <= 1.5 else 'MISSED'} ({figures[1]:.2f} s)")
    print(f"target 4 hosts <= 1.3x one: {'met' if figures[4] / figures[1] <= 1.3 else 'MISSED'}")
    print(f"target 1 host <= 3 s with +{args.rtt_ms:.0f} ms: {'met' if wan[1] <= 3 else 'MISSED'} ({wan[1]:.2f} s)")
    print(f"uptime at the end: {uptime()}")
    if not args.keep and before != 4:
        lab("up", "--hosts", str(before))


if __name__ == "__main__":
    main()
