"""The Compose file hardens both containers (CIS Docker Benchmark 5.x): what the README's
"Hardened containers" section promises, checked on the rendered file. The e2e test
tests/e2e/test_day2.py checks the same on running containers with docker inspect."""

from __future__ import annotations

from dataclasses import replace

import pytest
import yaml

from ollama_gate.auth import mode_of
from ollama_gate.compose import OLLAMA_CAPABILITIES, PROXY_CAPABILITIES, render_compose
from ollama_gate.settings import ConfigError, Settings, settings_from_data

BASIC = Settings()
BEARER = replace(Settings(), auth_mode="bearer")


def services(settings, memory=16000):
    return yaml.safe_load(render_compose(settings, host_memory_mb=memory))["services"]


@pytest.mark.parametrize("settings", [BASIC, BEARER], ids=["basic", "bearer"])
def test_both_containers_are_hardened(settings):
    svc = services(settings)
    for name in ("ollama", "proxy"):
        assert svc[name]["security_opt"] == ["no-new-privileges:true"], name
        assert svc[name]["cap_drop"] == ["ALL"], name
        assert isinstance(svc[name]["pids_limit"], int)
    assert svc["proxy"]["cap_add"] == list(PROXY_CAPABILITIES)
    assert svc["ollama"].get("cap_add", []) == list(OLLAMA_CAPABILITIES) == []
    assert svc["proxy"]["read_only"] is True
    assert "read_only" not in svc["ollama"]
    assert "ports" not in svc["ollama"]  # only the proxy reaches Ollama
    flavor = mode_of(settings).proxy_flavor
    assert [t.split(":")[0] for t in svc["proxy"]["tmpfs"]] == list(flavor.writable_dirs)
    if flavor.pid_file:  # a pid file nginx writes must be on a tmpfs
        assert any(flavor.pid_file.startswith(d + "/") for d in flavor.writable_dirs)


def test_limits_follow_the_settings():
    svc = services(replace(BASIC, proxy_memory_limit="128M", proxy_pids_limit=100,
                           ollama_memory_limit="12g", ollama_pids_limit=2000))
    assert (svc["proxy"]["mem_limit"], svc["proxy"]["pids_limit"]) == ("128m", 100)
    assert (svc["ollama"]["mem_limit"], svc["ollama"]["pids_limit"]) == ("12g", 2000)


def test_auto_memory_is_a_share_of_the_host():
    assert services(BASIC, memory=16000)["ollama"]["mem_limit"] == "14400m"
    # Unknown (only a stubbed fact): no limit rather than a guessed one.
    assert "mem_limit" not in services(BASIC, memory=None)["ollama"]


@pytest.mark.parametrize("name,value,expect", [
    ("proxy_memory_limit", "256", "not a Docker memory size"),
    ("proxy_memory_limit", "auto", "not a Docker memory size"),
    ("proxy_memory_limit", "8m", "below 32m"),
    ("ollama_memory_limit", "100m", "below 512m"),
    ("ollama_memory_limit", "lots", "or 'auto'"),
    ("proxy_pids_limit", 0, "from 32"),
    ("ollama_pids_limit", "many", "whole number"),
])
def test_bad_limits_are_refused_by_name(name, value, expect):
    with pytest.raises(ConfigError) as exc:
        settings_from_data({name: value})
    assert any(e.startswith(f"{name}: ") and expect in e for e in exc.value.errors), exc.value.errors
