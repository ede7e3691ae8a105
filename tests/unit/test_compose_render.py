"""The compose file: only the proxy is published; Ollama is reachable only from the proxy."""

from __future__ import annotations

import pytest
import yaml

from ollama_gate.compose import render_compose
from ollama_gate.settings import Settings


def services(settings: Settings) -> dict:
    return yaml.safe_load(render_compose(settings, host_memory_mb=16000))["services"]


@pytest.mark.parametrize("settings", [
    Settings(),
    Settings(auth_mode="bearer", proxy_tls="self-signed", proxy_port=443),
    Settings(ollama_gpu=True, proxy_bind="127.0.0.1"),
])
def test_ollama_is_never_published(settings):
    ollama = services(settings)["ollama"]
    for key in ("ports", "expose", "network_mode"):
        assert key not in ollama, key
    assert ollama["networks"] == ["backend"]
    assert "11434" not in yaml.safe_dump(ollama)


@pytest.mark.parametrize("settings,published", [
    (Settings(), "0.0.0.0:8880:80"),
    (Settings(proxy_bind="127.0.0.1", proxy_port=9000), "127.0.0.1:9000:80"),
    (Settings(proxy_tls="provided", proxy_port=443), "0.0.0.0:443:443"),
    (Settings(proxy_bind="::1", proxy_tls="self-signed"), "[::1]:8880:443"),
])
def test_only_the_proxy_port_is_published_on_the_bind_address(settings, published):
    svc = services(settings)
    assert svc["proxy"]["ports"] == [published]
    assert [name for name, s in svc.items() if "ports" in s] == ["proxy"]
    assert "network_mode" not in svc["proxy"]


def test_config_and_credentials_are_mounted_read_only():
    proxy = services(Settings(proxy_tls="self-signed", stack_dir="/srv/gate"))["proxy"]
    assert proxy["volumes"] == ["/srv/gate/proxy:/etc/nginx/conf.d:ro", "/srv/gate/auth:/etc/ollama-gate/auth:ro",
                                "/srv/gate/tls:/etc/ollama-gate/tls:ro"]
    assert len(services(Settings())["proxy"]["volumes"]) == 2
