"""Proxy benchmark: the rendered configs against the same nginx proxying without auth.

Renders the real templates, starts a trivial upstream (an nginx answering a small JSON
document) and the proxy on 127.0.0.1, drives each with wrk for a bounded time and prints
one ratio per line (requests/s relative to the no-auth proxy) plus p99 latencies.

    .venv/bin/python bench/proxy_bench.py [--seconds 3] [--rounds 3] [--connections 16]

Targets (issue 3): bearer with 10,000 keys >= 0.9x for valid keys and >= 1.0x for
invalid ones; basic mode with the default settings (ssha) >= 0.8x; p99 <= 2x no-auth.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ollama_gate import proxy  # noqa: E402
from ollama_gate.credentials import HASHERS, key_digest  # noqa: E402
from ollama_gate.secrets_file import generate  # noqa: E402
from tests.integration import harness  # noqa: E402

PATH = "/api/tags"
UPSTREAM_CONF = """\
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    keepalive_requests 100000;
    server {{
        listen 127.0.0.1:{port};
        default_type application/json;
        location / {{ return 200 '{{"models":[]}}'; }}
    }}
}}
"""


def start_upstream() -> harness.NginxProcess:
    prefix = harness.make_workdir("bench-upstream")
    upstream = harness.NginxProcess(prefix, harness.free_port())
    (prefix / "nginx.conf").write_text(UPSTREAM_CONF.format(prefix=prefix, port=upstream.port))
    upstream.start()
    return upstream


def without_auth(conf: str) -> str:
    """The rendered basic config with its two auth_basic lines per location removed."""
    stripped, count = re.subn(r"^\s*auth_basic(_user_file)? [^\n]*;\n", "", conf, flags=re.M)
    assert count == 2 * (len(proxy.ALLOWED_ROUTES) + len(proxy.ALLOWED_PATTERNS)), count
    return stripped


def parse_wrk(output: str) -> tuple[float, float, int, int]:
    """(requests/s, p99 in ms, non-2xx count, requests) from ``wrk --latency`` output."""
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    value, unit = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", output, re.M).groups()
    p99 = float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    total = int(re.search(r"(\d+) requests in", output).group(1))
    return rps, p99, int(bad.group(1)) if bad else 0, total


def workers_cpu_seconds(master_pid: int) -> float:
    """CPU time (user + system) of nginx's workers, the children of ``master_pid``."""
    ticks = os.sysconf("SC_CLK_TCK")
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
    total = 0
    for pid in children:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def measure(gate, seconds: int, connections: int, authorization: str | None) -> tuple[float, float, int, float]:
    """(requests/s, p99 ms, non-2xx, proxy CPU microseconds per request) of one wrk run."""
    cpu_before = workers_cpu_seconds(gate.process.pid)
    rps, p99, bad, total = wrk(gate.port, seconds, connections, authorization)
    cpu = workers_cpu_seconds(gate.process.pid) - cpu_before
    return rps, p99, bad, cpu / total * 1e6


def wrk(port: int, seconds: int, connections: int, authorization: str | None) -> tuple[float, float, int, int]:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "5s"]
    if authorization:
        command += ["-H", f"Authorization: {authorization}"]
    command.append(f"http://127.0.0.1:{port}{PATH}")
    result = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 30, check=True)
    return parse_wrk(result.stdout)


def htpasswd(scheme: str, password: str) -> str:
    # A handful of users, the measured one last (nginx scans the file on every request).
    others = "".join(f"user{i}:{HASHERS[scheme].hash(secrets.token_urlsafe(16))}\n" for i in range(9))
    return others + f"bench:{HASHERS[scheme].hash(password)}\n"


def keys_file(count: int) -> tuple[str, str]:
    """A keys.sha256 of ``count`` random keys and one of those keys."""
    keys = [secrets.token_urlsafe(32) for _ in range(count)]
    lines = "".join(f"key{i:05d}:{hashlib.sha256(k.encode()).hexdigest()}\n" for i, k in enumerate(keys))
    assert key_digest(keys[count // 2]) in lines
    return lines, keys[count // 2]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=3, help="wrk duration per measurement (1-30)")
    parser.add_argument("--rounds", type=int, default=3, help="measurements per scenario (1-9)")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=1,
                        help="proxy worker processes (the openresty image runs 1, the nginx image auto)")
    args = parser.parse_args()
    load_before = os.getloadavg()
    seconds = max(1, min(args.seconds, 30))
    rounds = max(1, min(args.rounds, 9))
    for tool, reason in (("wrk", "apt-get install wrk"), ("nginx", "apt-get install nginx libnginx-mod-http-lua")):
        if not shutil.which(tool):
            print(f"{tool} is missing ({reason})", file=sys.stderr)
            return 2
    if harness.missing_nginx():
        print(harness.missing_nginx(), file=sys.stderr)
        return 2

    password = generate("users")  # as new-user makes them
    keys, key = keys_file(10_000)
    scenarios = [
        # (name, settings, credentials file, Authorization header)
        ("noauth", harness.settings_for("basic"), "", None),
        ("bearer_10k_valid", harness.settings_for("bearer"), keys, f"Bearer {key}"),
        ("bearer_10k_invalid", harness.settings_for("bearer"), keys, "Bearer " + secrets.token_urlsafe(32)),
        # The largest limit the settings allow: its burst (limit - 1) outlasts any measurement here.
        ("bearer_10k_invalid_unlimited", harness.settings_for("bearer", auth_fail_limit=100000), keys,
         "Bearer " + secrets.token_urlsafe(32)),
        ("basic_ssha_default", harness.settings_for("basic"), htpasswd("ssha", password),
         harness.basic_header("bench", password)),
        ("basic_apr1", harness.settings_for("basic"), htpasswd("apr1", password),
         harness.basic_header("bench", password)),
    ]

    # Every proxy runs at once and the measurements interleave: each round measures the
    # no-auth proxy before and after every scenario, and a scenario's ratio is taken
    # against the mean of those two neighbours, so a slow spell of a shared machine hits
    # both sides alike. The printed ratio is the median over rounds.
    upstream = start_upstream()
    gates = {}
    runs: dict[str, list] = {name: [] for name, *_ in scenarios}
    auth_of = {name: authorization for name, _, _, authorization in scenarios}
    try:
        for name, settings, credentials, authorization in scenarios:
            gate = harness.Gate(settings, upstream.port, label=f"bench-{name}", credentials=credentials,
                                workers=args.workers)
            gates[name] = gate
            if name == "noauth":
                conf_path = gate.conf_dir / proxy.CONF_FILENAME
                conf_path.write_text(without_auth(conf_path.read_text()))
            gate.start()
            wrk(gate.port, 1, args.connections, authorization)  # warm-up, not measured
        for round_ in range(rounds):
            order = ["noauth"]
            for name, *_ in scenarios[1:]:
                order += [name, "noauth"]
            for name in order:
                result = measure(gates[name], seconds, args.connections, auth_of[name])
                runs[name].append(result)
                rps, p99, bad, cpu = result
                print(f"# round {round_ + 1} {name}: {rps:.0f} req/s, p99 {p99:.2f} ms, non-2xx {bad}, "
                      f"proxy cpu {cpu:.1f} us/request", file=sys.stderr)
    finally:
        for gate in gates.values():
            gate.cleanup()
        upstream.stop()
        shutil.rmtree(upstream.prefix, ignore_errors=True)

    per_round = len(scenarios) - 1

    def neighbours(name: str, field: int) -> list[float]:
        """For each run of ``name``, the mean of the no-auth runs just before and after it."""
        index = [n for n, *_ in scenarios[1:]].index(name)
        base = runs["noauth"]
        return [(base[r * (per_round + 1) + index][field] + base[r * (per_round + 1) + index + 1][field]) / 2
                for r in range(rounds)]

    def median_ratio(name: str, field: int) -> float:
        return statistics.median(run[field] / base for run, base in zip(runs[name], neighbours(name, field)))

    def median(name: str, field: int) -> float:
        return statistics.median(run[field] for run in runs[name])

    targets = {
        "bearer_10k_valid": 0.9,
        "bearer_10k_invalid": 1.0,
        "bearer_10k_invalid_unlimited": None,
        "basic_ssha_default": 0.8,
        "basic_apr1": None,
    }
    print(f"noauth {median('noauth', 0):.0f} req/s p99 {median('noauth', 1):.2f} ms "
          f"(median of {rounds} rounds of {seconds}s, {args.connections} connections, "
          f"{args.workers} proxy worker(s))")
    for name, target in targets.items():
        ratio = median_ratio(name, 0)
        verdict = "" if target is None else f" target>={target} {'met' if ratio >= target else 'MISSED'}"
        spread = " ".join(f"{run[0] / base:.2f}" for run, base in zip(runs[name], neighbours(name, 0)))
        print(f"ratio {name} {ratio:.2f}x{verdict} (rounds: {spread})")
    # Proxy CPU per request: steadier than throughput on a busy machine.
    print(f"cpu noauth {median('noauth', 3):.1f} us/request")
    for name in targets:
        print(f"cpu {name} {median(name, 3):.1f} us/request = {median_ratio(name, 3):.2f}x noauth")
    for name, target in targets.items():
        p99_ratio = median_ratio(name, 1)
        verdict = "comparison only" if target is None else f"target<=2.0 {'met' if p99_ratio <= 2.0 else 'MISSED'}"
        print(f"p99 {name} {median(name, 1):.2f} ms = {p99_ratio:.2f}x noauth, {verdict}")
    print(f"load average {load_before[0]:.1f} before, {os.getloadavg()[0]:.1f} after ({os.cpu_count()} CPUs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
