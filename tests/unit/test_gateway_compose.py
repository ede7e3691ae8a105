"""A gateway's compose file runs only the proxy; ollama_environment reaches Ollama's container."""

from __future__ import annotations

from dataclasses import replace

import pytest
import yaml

from ollama_gate.compose import render_compose
from ollama_gate.settings import ConfigError, Settings, settings_from_data


def test_a_gateway_runs_only_the_proxy():
    doc = yaml.safe_load(render_compose(Settings(), gateway=True))
    assert list(doc["services"]) == ["proxy"]
    assert "depends_on" not in doc["services"]["proxy"]
    assert "volumes" not in doc  # no models volume on a gateway
    endpoint = yaml.safe_load(render_compose(Settings(), host_memory_mb=4096))
    assert list(endpoint["services"]) == ["ollama", "proxy"]


def test_ollama_environment_is_set_on_the_ollama_container_only():
    s = replace(Settings(), ollama_environment={"OLLAMA_NUM_PARALLEL": "1", "OLLAMA_KEEP_ALIVE": "1h"})
    doc = yaml.safe_load(render_compose(s, host_memory_mb=4096))
    assert doc["services"]["ollama"]["environment"] == {"OLLAMA_KEEP_ALIVE": "1h", "OLLAMA_NUM_PARALLEL": "1"}
    assert "environment" not in doc["services"]["proxy"]
    assert "environment" not in yaml.safe_load(render_compose(Settings(), host_memory_mb=4096))["services"]["ollama"]


@pytest.mark.parametrize("value", [{"lower": "1"}, {"A": 'x"y'}, {"A": "${HOME}"}, {"A": "a\nb"}, {"A": True}, ["A=1"]])
def test_unsafe_environment_is_refused_naming_the_setting(tmp_path, value):
    with pytest.raises(ConfigError) as err:
        settings_from_data({"ollama_environment": value}, tmp_path)
    assert "ollama_environment" in str(err.value)


@pytest.mark.parametrize("data,setting", [({"gateway_weight": 0}, "gateway_weight"),
                                          ({"gateway_backends": "backend"}, "gateway_backends"),
                                          ({"gateway_service_credential": "a b"}, "gateway_service_credential"),
                                          ({"gateway_backend_address": "10.0.0.1;"}, "gateway_backend_address"),
                                          ({"gateway_bakends": ["x"]}, "gateway_bakends")])
def test_gateway_settings_are_checked_before_any_host(tmp_path, data, setting):
    with pytest.raises(ConfigError) as err:
        settings_from_data(data, tmp_path)
    assert setting in str(err.value)
