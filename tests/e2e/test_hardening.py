"""Hardened containers on running lab hosts, read back with `docker inspect`: what the
README's "Hardened containers" section lists (CIS Docker Benchmark 5.x), and that the proxy
still serves, reloads and cannot write its own filesystem."""

from __future__ import annotations

import json

import pytest

from ollama_gate.auth import MODES
from ollama_gate.compose import OLLAMA_CAPABILITIES, PROXY_CAPABILITIES
from ollama_gate.settings import Settings, memory_bytes

from .conftest import ssh
from .helpers import auth_header, status_of
from .test_deploy import credential


def inspect(lab, index, container):
    out = ssh(lab, index, f"docker inspect {container}")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)[0]


def caps(values):
    # Docker 26 reports CAP_X, older engines X.
    return sorted(v.upper().removeprefix("CAP_") for v in values or [])


@pytest.mark.parametrize("index", [0, 1])
def test_running_containers_are_hardened(deployed, index):
    lab = deployed["lab"]
    host = lab["hosts"][index]
    defaults = Settings()
    flavor = MODES[host["auth_mode"]].proxy_flavor
    mem_total_mb = int(ssh(lab, index, "awk '/^MemTotal:/ {print $2}' /proc/meminfo").stdout) // 1024

    for name in ("ollama", "proxy"):
        hc = inspect(lab, index, f"ollama-gate-{name}")["HostConfig"]
        assert "no-new-privileges:true" in hc["SecurityOpt"], (name, hc["SecurityOpt"])
        assert caps(hc["CapDrop"]) == ["ALL"], name
        assert hc["Privileged"] is False
        assert hc["PidsLimit"] == getattr(defaults, f"{name}_pids_limit")
        assert hc["Memory"] > 0
    proxy_hc = inspect(lab, index, "ollama-gate-proxy")["HostConfig"]
    assert caps(proxy_hc["CapAdd"]) == sorted(PROXY_CAPABILITIES)
    assert proxy_hc["ReadonlyRootfs"] is True
    assert sorted(proxy_hc["Tmpfs"]) == sorted(flavor.writable_dirs)
    assert proxy_hc["Memory"] == memory_bytes(defaults.proxy_memory_limit)

    ollama = inspect(lab, index, "ollama-gate-ollama")
    assert caps(ollama["HostConfig"]["CapAdd"]) == sorted(OLLAMA_CAPABILITIES)
    assert ollama["HostConfig"]["ReadonlyRootfs"] is False
    # "auto": 90% of the host's memory (the lab host sees the machine's).
    assert abs(ollama["HostConfig"]["Memory"] - int(mem_total_mb * 0.9) * (1 << 20)) <= 1 << 20
    # The Ollama port is never published: no host binding, in config or at run time.
    assert not ollama["HostConfig"]["PortBindings"]
    assert all(not bindings for bindings in (ollama["NetworkSettings"]["Ports"] or {}).values())

    # In effect, not just configured: the processes' capability sets and the read-only root.
    cap_eff = ssh(lab, index, "docker exec ollama-gate-ollama grep CapEff /proc/1/status").stdout.split()
    assert cap_eff[-1] == "0000000000000000", cap_eff
    nnp = ssh(lab, index, "docker exec ollama-gate-proxy grep NoNewPrivs /proc/1/status").stdout.split()
    assert nnp[-1] == "1"
    write = ssh(lab, index, "docker exec ollama-gate-proxy touch /etc/nginx/ollama-gate-probe")
    assert write.returncode != 0 and "Read-only file system" in write.stderr

    # Still a working proxy: config test, in-place reload, and an authenticated request.
    reload = ssh(lab, index, "docker exec ollama-gate-proxy nginx -t -q && docker exec ollama-gate-proxy nginx -s reload")
    assert reload.returncode == 0, reload.stderr
    name, value = credential(lab, host)
    assert status_of(host["proxy_url"] + "/api/tags", auth_header(host["auth_mode"], name, value)) == 200
    assert status_of(host["proxy_url"] + "/api/tags") == 401
