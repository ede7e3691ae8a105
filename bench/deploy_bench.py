"""Benchmark: how long a no-change rerun of deploy.py takes, on one lab host and on four.

    .venv/bin/python bench/deploy_bench.py [--runs 3] [--keep]

Grows the lab to 4 hosts (python -m lab up --hosts 4), deploys once so every host
is converged, then times `pyinfra -y inventory/lab.py deploy.py` with nothing to change:
--limit to one host, then all four, each --runs times (median printed). Targets (issue 5):
one host <= 10 s; four hosts <= 1.3x one host. Afterwards the lab goes back to the number
of hosts it had, unless --keep. Prints figures; asserts nothing (a benchmark, not a test).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = str(ROOT / ".venv" / "bin" / "python")
PYINFRA = str(ROOT / ".venv" / "bin" / "pyinfra")
STATE = ROOT / ".lab" / "lab.json"


def lab(*args: str) -> None:
    subprocess.run([PY, "-m", "lab", *args], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)


def deploy(*args: str) -> tuple[float, str]:
    start = time.monotonic()
    proc = subprocess.run([PYINFRA, "-y", *args, "inventory/lab.py", "deploy.py"], cwd=ROOT,
                          capture_output=True, text=True, timeout=1800, stdin=subprocess.DEVNULL)
    elapsed = time.monotonic() - start
    if proc.returncode != 0:
        sys.exit(f"deploy failed:\n{(proc.stdout + proc.stderr)[-3000:]}")
    return elapsed, proc.stdout


def changed_ops(output: str) -> int:
    table = output.split("--> Results:")[-1]
    total = [line for line in table.splitlines() if line.strip().startswith("Grand total")]
    return int(total[0].split()[3]) if total and total[0].split()[3] != "-" else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="leave the lab at 4 hosts")
    args = parser.parse_args()
    os.environ.pop("OLLAMA_GATE_LAB_SECRETS", None)

    before = len(json.loads(STATE.read_text())["hosts"]) if STATE.exists() else 2
    lab("up", "--hosts", "4")
    hosts = [h["name"] for h in json.loads(STATE.read_text())["hosts"]]
    first, _ = deploy()
    print(f"converge 4 hosts (first deploy where needed): {first:.1f} s")

    one, four = [], []
    for _ in range(args.runs):
        t, out = deploy("--limit", hosts[0])
        assert changed_ops(out) == 0, "a no-change rerun changed something"
        one.append(t)
        t, out = deploy()
        assert changed_ops(out) == 0, "a no-change rerun changed something"
        four.append(t)
    m1, m4 = statistics.median(one), statistics.median(four)
    print(f"no-change rerun, 1 host:  {m1:.2f} s (median of {args.runs}; runs {', '.join(f'{t:.2f}' for t in one)})")
    print(f"no-change rerun, 4 hosts: {m4:.2f} s (median of {args.runs}; runs {', '.join(f'{t:.2f}' for t in four)})")
    print(f"4 hosts / 1 host: {m4 / m1:.2f}x")
    print(f"target 1 host <= 10 s: {'met' if m1 <= 10 else 'MISSED'}")
    print(f"target 4 hosts <= 1.3x: {'met' if m4 / m1 <= 1.3 else 'MISSED'}")
    if not args.keep and before != 4:
        lab("up", "--hosts", str(before))


if __name__ == "__main__":
    main()
