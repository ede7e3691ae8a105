"""Benchmark: the same no-change rerun with two versions of the code, interleaved (issue #15).

    git archive <rev> | tar -x -C /tmp/before && ln -s "$PWD/.lab" /tmp/before/.lab
    .venv/bin/python bench/rerun_before_after.py /tmp/before [--runs 4]

On a machine shared with other work the wall time of one series says little: the load
changes from minute to minute. Here the two versions run alternately (before, after, after,
before, ...) against the running lab (bench/rerun_bench.py --keep leaves it at 4 hosts), for
1 host and for every host, so both see the same load. Prints the medians of wall time,
pyinfra's CPU and the lab hosts' CPU. Both versions must leave the lab unchanged (a run that
changes something stops the benchmark). Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import rerun_bench as rb  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path, help="checkout of the earlier code (with .lab linked)")
    parser.add_argument("--runs", type=int, default=4)
    args = parser.parse_args()
    projects = {"before": args.before.resolve(), "after": ROOT}
    hosts = [h["name"] for h in json.loads(rb.STATE.read_text())["hosts"]]
    rb.LAB_CONTAINERS[:] = rb._lab_container_ids(hosts)
    print(f"{len(hosts)} lab hosts; uptime: {rb.uptime()}")
    for n in (1, len(hosts)):
        limit = rb.limit_args(hosts[:n]) if n < len(hosts) else ()
        figures = {name: {"wall": [], "cpu": [], "hosts": []} for name in projects}
        for i in range(args.runs):
            order = list(projects.items())
            for name, project in (order if i % 2 == 0 else reversed(order)):
                del rb.CPU[:], rb.HOST_CPU[:]
                elapsed, out = rb.deploy(project, *limit)
                if rb.changed_ops(out):
                    sys.exit(f"{name}: a no-change rerun changed something:\n{out[-3000:]}")
                figures[name]["wall"].append(elapsed)
                figures[name]["cpu"].append(rb.CPU[-1])
                figures[name]["hosts"].append(rb.HOST_CPU[-1] if rb.HOST_CPU else float("nan"))
        for name, f in figures.items():
            print(f"{n} host(s), {name:6}: wall {statistics.median(f['wall']):.2f} s ({rb.fmt(f['wall'])}); "
                  f"pyinfra's CPU {statistics.median(f['cpu']):.2f} s; lab hosts' CPU "
                  f"{statistics.median(f['hosts']):.2f} s; load average {os.getloadavg()[0]:.1f}")
    print(f"uptime at the end: {rb.uptime()}")


if __name__ == "__main__":
    main()
