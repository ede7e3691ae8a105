"""Proxy config changes on a running lab host: a broken config is rolled back without
taking the proxy down, and HTTPS can be switched on and off by settings."""

from __future__ import annotations

import ssl
import subprocess
import urllib.request

from ollama_gate import PROJECT_DIR

from .conftest import PYINFRA, deploy, ssh
from .helpers import auth_header, status_of
from .test_deploy import credential, host_of_mode


def test_broken_proxy_config_is_rolled_back_and_the_proxy_keeps_serving(deployed):
    lab = deployed["lab"]
    index, host = host_of_mode(lab, "basic")
    conf = "/opt/ollama-gate/proxy/ollama-gate.conf"
    before = ssh(lab, index, f"sha256sum {conf}").stdout.split()[0]

    proc = subprocess.run([PYINFRA, "-y", "--limit", host["name"], "inventory/lab.py",
                           "tests/e2e/deploys/broken_proxy_config.py"], cwd=PROJECT_DIR,
                          capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output[-3000:]
    assert "nginx -t refused the new proxy config: " in output and "was put back" in output

    assert ssh(lab, index, f"sha256sum {conf}").stdout.split()[0] == before
    assert ssh(lab, index, "ls /opt/ollama-gate/proxy/").stdout.split() == ["ollama-gate.conf"]
    name, value = credential(lab, host)
    assert status_of(host["proxy_url"] + "/api/tags", auth_header("basic", name, value)) == 200
    rerun = deploy("--limit", host["name"])
    assert rerun.returncode == 0 and rerun.changed() == {}, rerun.output[-3000:]


def test_self_signed_https_on_and_off(deployed):
    lab = deployed["lab"]
    index, host = host_of_mode(lab, "basic")
    name, value = credential(lab, host)
    https_url = host["proxy_url"].replace("http://", "https://")
    try:
        run = deploy("--limit", host["name"], "--data", "proxy_tls=self-signed")
        assert run.returncode == 0, run.output[-3000:]
        assert any(op.startswith("Ensure a self-signed TLS certificate for ") for op in run.changed()), run.changed()
        assert "endpoint verified" in run.output
        key_mode = ssh(lab, index, "stat -c '%a %U' /opt/ollama-gate/tls/key.pem").stdout.split()
        assert key_mode == ["600", "root"]

        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        req = urllib.request.Request(https_url + "/api/tags", headers={"Authorization": auth_header("basic", name, value)})
        with urllib.request.urlopen(req, context=context, timeout=10) as resp:
            assert resp.status == 200
            assert "max-age=" in resp.headers.get("Strict-Transport-Security", "")
        assert status_of(host["proxy_url"] + "/api/tags") != 200  # plain HTTP is gone

        again = deploy("--limit", host["name"], "--data", "proxy_tls=self-signed")
        assert again.returncode == 0 and again.changed() == {}, again.changed()
    finally:
        off = deploy("--limit", host["name"])
    assert off.returncode == 0, off.output[-3000:]
    assert status_of(host["proxy_url"] + "/api/tags", auth_header("basic", name, value)) == 200
    assert ssh(lab, index, "test -e /opt/ollama-gate/tls && echo present || echo absent").stdout.strip() == "absent"
