"""A reload that really fails says what failed and puts back what the run replaced (#14 item
5): a proxy that is not running is not reported as "nginx -t failed"."""

from __future__ import annotations

import subprocess
import time

from ollama_gate import PROJECT_DIR

from . import faults
from .conftest import PYINFRA, deploy, ssh
from .helpers import auth_header, status_of
from .test_deploy import credential, host_of_mode

CONF = "/opt/ollama-gate/proxy/ollama-gate.conf"


def test_a_reload_in_a_proxy_that_is_not_running_says_so_and_restores(deployed, request):
    lab = deployed["lab"]
    index, host = host_of_mode(lab, "basic")
    before = ssh(lab, index, f"sha256sum {CONF}").stdout.split()[0]
    assert ssh(lab, index, "docker stop -t 2 ollama-gate-proxy").returncode == 0
    proc = subprocess.run([PYINFRA, "-y", "--limit", host["name"], "inventory/lab.py",
                           "tests/e2e/deploys/broken_proxy_config.py"], cwd=PROJECT_DIR,
                          capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output[-3000:]
    assert ("the proxy container is not running (restarting, stopped or missing), so nginx -t could "
            "not run") in output, output[-3000:]
    assert "the previous proxy config was put back" in output
    assert "nginx -t refused" not in output and "failed nginx -t" not in output
    assert ssh(lab, index, f"sha256sum {CONF}").stdout.split()[0] == before
    assert ssh(lab, index, "ls /opt/ollama-gate/proxy/").stdout.split() == ["ollama-gate.conf"]

    started = time.monotonic()
    rerun = deploy("--limit", host["name"])
    took = time.monotonic() - started
    assert rerun.returncode == 0, rerun.output[-3000:]
    assert "endpoint verified" in rerun.output
    name, value = credential(lab, host)
    assert status_of(host["proxy_url"] + "/api/tags", auth_header("basic", name, value)) == 200
    faults.record(request, item="14.5", tried="a proxy config change while the proxy container is "
                  "not running", holds="the host fails saying the proxy is not running (never \"nginx -t "
                  "failed\"), the previous config is put back; the rerun starts the proxy and verifies",
                  seconds=took, how="rerun")
