"""Gateway benchmark: throughput through one gateway for 1, 2 (and 3) backends, and the
requests/s of the gateway's proxy itself.

1. Scale (the lab fleet, `python -m lab up --fleet [--hosts 4]`): each backend's Ollama
   stand-in answers one generation at a time (OLLAMA_NUM_PARALLEL=1) and slowly
   (OLLAMA_STANDIN_DELAY), so each backend is the bottleneck a GPU is. For n = 1..N the
   gateway is deployed with the first n backends (only its upstream config changes, a
   reload), then `--clients` client threads send POST /api/generate through it for
   `--seconds`. Printed: requests/s per n and the ratio to n = 1 (target: 2 over 1 >= 1.8x).
2. The proxy itself (no lab): the gateway's rendered config on the real nginx on
   127.0.0.1 with one worker, in front of two trivial nginx backends, driven by wrk on
   /api/tags; printed beside an ordinary endpoint's config in front of one of them.

    .venv/bin/python bench/gateway_bench.py [--seconds 10] [--clients 8] [--delay 5] [--skip-lab]

Figures, not asserts. Traffic goes only to 127.0.0.1; every load is bounded in time.
The lab is deployed back to its ordinary fleet (no stand-in environment, every backend) at
the end.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import proxy_bench  # noqa: E402

from ollama_gate.credentials import HASHERS  # noqa: E402
from ollama_gate.gateway import Backend, Pool, service_auth_conf  # noqa: E402
from ollama_gate.secrets_file import Secret, generate  # noqa: E402
from tests.integration import harness  # noqa: E402

PYINFRA = str(ROOT / ".venv" / "bin" / "pyinfra")


def deploy(env: dict) -> float:
    start = time.monotonic()
    proc = subprocess.run([PYINFRA, "-y", "inventory/lab.py", "deploy.py"], cwd=ROOT, capture_output=True,
                          text=True, timeout=900, env=dict(os.environ, **env), stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise SystemExit(f"deploy failed:\n{(proc.stdout + proc.stderr)[-3000:]}")
    return time.monotonic() - start


def load(url: str, header: str, clients: int, seconds: float) -> tuple[int, int, float]:
    """(answered 200, other outcomes, seconds) of `clients` threads posting generations."""
    assert url.startswith("http://127.0.0.1:"), url
    body = json.dumps({"model": "gemma3:1b", "prompt": "Say hello", "stream": False}).encode()
    ok, bad = [0], [0]
    lock = threading.Lock()
    end = time.monotonic() + seconds

    def client():
        while time.monotonic() < end:
            request = urllib.request.Request(url, data=body, method="POST", headers={"Authorization": header})
            try:
                with urllib.request.urlopen(request, timeout=60) as response:
                    response.read()
                    good = response.status == 200
            except (urllib.error.URLError, OSError):
                good = False
            with lock:
                (ok if good else bad)[0] += 1

    start = time.monotonic()
    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 90)
    return ok[0], bad[0], time.monotonic() - start


def scale(args) -> None:
    from lab.state import read_state, secret_value

    state = read_state()
    if not state or not state.get("fleet"):
        print("scale: no fleet lab (python -m lab up --fleet [--hosts 4]); skipped", file=sys.stderr)
        return
    gateway = next(h for h in state["hosts"] if h["role"] == "gateway")
    backends = [h["name"] for h in state["hosts"] if h["role"] == "backend"]
    cred = gateway["credentials"][0]["name"]
    header = "Basic " + base64.b64encode(f"{cred}:{secret_value(cred, state)}".encode()).decode()
    url = gateway["proxy_url"] + "/api/generate"
    ollama_env = json.dumps({"OLLAMA_NUM_PARALLEL": "1", "OLLAMA_STANDIN_DELAY": str(args.delay)})
    results = {}
    try:
        for n in range(1, len(backends) + 1):
            only = ",".join([gateway["name"], *backends[:n]])
            took = deploy({"OLLAMA_GATE_LAB_ONLY": only, "OLLAMA_GATE_LAB_OLLAMA_ENV": ollama_env})
            load(url, header, args.clients, 2)  # warm-up: models loaded, connections open
            ok, bad, seconds = load(url, header, args.clients, args.seconds)
            results[n] = ok / seconds
            print(f"# {n} backend(s): {ok} answered, {bad} failed in {seconds:.1f} s "
                  f"(deploy {took:.0f} s)", file=sys.stderr)
    finally:
        deploy({})  # the lab's ordinary fleet again
    print(f"gateway_scale_clients {args.clients}, stand-in delay x{args.delay}, one generation at a time per backend")
    for n, rps in results.items():
        print(f"gateway_scale_{n}_backends {rps:.2f} req/s  ({rps / results[1]:.2f}x of 1 backend)")


def own_rate(args) -> None:
    if harness.missing_nginx() or not shutil.which("wrk"):
        print("proxy: nginx with Lua or wrk missing; skipped", file=sys.stderr)
        return
    password = generate("users")
    htpasswd = f"bench:{HASHERS['ssha'].hash(password)}\n"
    header = harness.basic_header("bench", password)
    upstreams = [proxy_bench.start_upstream() for _ in range(2)]
    settings = harness.settings_for("basic")
    pool = Pool(backends=tuple(Backend(f"b{i}", f"127.0.0.1:{u.port}") for i, u in enumerate(upstreams)))
    gates = {
        "endpoint": harness.Gate(settings, upstreams[0].port, label="bench-endpoint", credentials=htpasswd),
        "gateway": harness.Gate(settings, None, label="bench-gateway", credentials=htpasswd, pool=pool,
                                service_auth=service_auth_conf(Secret("svc", "Bearer og_" + "x" * 40))),
    }
    seconds = max(1, min(args.wrk_seconds, 30))
    rates: dict[str, list[float]] = {name: [] for name in gates}
    try:
        for gate in gates.values():
            gate.start()
            proxy_bench.wrk(gate.port, 1, 16, header)  # warm-up
        for _ in range(3):
            for name, gate in gates.items():
                rps, p99, bad, cpu = proxy_bench.measure(gate, seconds, 16, header)
                rates[name].append(rps)
                print(f"# {name}: {rps:.0f} req/s, p99 {p99:.2f} ms, non-2xx {bad}, {cpu:.1f} us cpu/request",
                      file=sys.stderr)
    finally:
        for gate in gates.values():
            gate.cleanup()
        for upstream in upstreams:
            upstream.stop()
            shutil.rmtree(upstream.prefix, ignore_errors=True)
    best = {name: sorted(values)[len(values) // 2] for name, values in rates.items()}
    print(f"proxy_endpoint_1_worker {best['endpoint']:.0f} req/s (basic, /api/tags, trivial Ollama stand-in)")
    print(f"proxy_gateway_1_worker {best['gateway']:.0f} req/s ({best['gateway'] / best['endpoint']:.2f}x "
          "of the endpoint proxy; 2 trivial backends)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10, help="load per backend count (2-60)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (1-32)")
    parser.add_argument("--delay", type=float, default=5, help="OLLAMA_STANDIN_DELAY on the backends (1-10)")
    parser.add_argument("--wrk-seconds", type=int, default=3, help="wrk duration per proxy measurement")
    parser.add_argument("--skip-lab", action="store_true", help="only the proxy's own rate")
    parser.add_argument("--skip-proxy", action="store_true", help="only the scale through the lab")
    args = parser.parse_args()
    args.seconds = max(2.0, min(args.seconds, 60.0))
    args.clients = max(1, min(args.clients, 32))
    args.delay = max(1.0, min(args.delay, 10.0))
    print(f"# load average before: {os.getloadavg()[0]:.2f} (2 cores shared)", file=sys.stderr)
    if not args.skip_lab:
        scale(args)
    if not args.skip_proxy:
        own_rate(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
