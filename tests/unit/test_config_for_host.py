"""config_for_host: the first host's call checks every host; one bad host stops them all."""

from types import SimpleNamespace

import pytest
from pyinfra.api.exceptions import PyinfraError

import ollama_gate.config as config

PASSWORD = "Xq7vLp2Rk9tZw4Nc8HjB3sDf6G"


def host(name, groups=(), **data):
    return SimpleNamespace(name=name, groups=list(groups), data=SimpleNamespace(dict=lambda: dict(data)))


@pytest.fixture
def secrets(tmp_path, monkeypatch):
    path = tmp_path / "secrets.yml"
    path.write_text(f"users:\n  alice: {PASSWORD}\n")
    monkeypatch.setenv("OLLAMA_GATE_SECRETS", str(path))
    monkeypatch.setattr(config, "_checked", None)
    monkeypatch.chdir(tmp_path)
    return path


def test_every_host_is_checked_once_and_each_gets_its_own(secrets):
    a, b = host("a"), host("b", proxy_port=9000)
    cfg = config.config_for_host(b, [a, b])
    assert (cfg.name, cfg.settings.proxy_port, list(cfg.credentials)) == ("b", 9000, ["alice"])
    # Checked once: a later change of the secrets file does not reach the same run.
    secrets.write_text("users: [broken\n")
    assert config.config_for_host(a, [a, b]).name == "a"


def test_one_bad_host_stops_the_run_naming_every_problem(secrets):
    good, bad = host("good"), host("bad", proxy_port=True, auth_mode="nope")
    with pytest.raises(PyinfraError) as exc:
        config.config_for_host(good, [good, bad])
    text = str(exc.value)
    assert text.startswith("ollama-gate: 2 problem(s) in the settings or secrets; no host was changed:\n")
    assert "  - bad: auth_mode:" in text and "  - bad: proxy_port:" in text
    assert config._checked is None  # nothing was accepted
