"""config_for_host: the first host's call checks every host; one bad host stops them all."""

import pytest
from pyinfra.api import Config, Inventory, State
from pyinfra.api.exceptions import PyinfraError
from pyinfra.context import ctx_state

import ollama_gate.config as config

PASSWORD = "Xq7vLp2Rk9tZw4Nc8HjB3sDf6G"


def inventory(*hosts):
    """A pyinfra Inventory of (name, data) hosts, as the CLI makes it."""
    inv = Inventory((list(hosts), {}))
    State(inventory=inv, config=Config())
    return inv


@pytest.fixture
def secrets(tmp_path, monkeypatch):
    path = tmp_path / "secrets.yml"
    path.write_text(f"users:\n  alice: {PASSWORD}\n")
    monkeypatch.setenv("OLLAMA_GATE_SECRETS", str(path))
    monkeypatch.setattr(config, "_checked", None)
    monkeypatch.chdir(tmp_path)
    return path


def test_every_host_is_checked_once_and_each_gets_its_own(secrets):
    inv = inventory(("a", {}), ("b", {"proxy_port": 9000}))
    a, b = inv.get_host("a"), inv.get_host("b")
    with ctx_state.use(inv.state):
        cfg = config.config_for_host(b, inv)
    assert (cfg.name, cfg.settings.proxy_port, list(cfg.credentials)) == ("b", 9000, ["alice"])
    # Checked once: a later change of the secrets file does not reach the same run.
    secrets.write_text("users: [broken\n")
    with ctx_state.use(inv.state):
        assert config.config_for_host(a, inv).name == "a"


def test_one_bad_host_stops_the_run_naming_every_problem(secrets):
    inv = inventory(("good", {}), ("bad", {"proxy_port": True, "auth_mode": "nope"}))
    with pytest.raises(PyinfraError) as exc, ctx_state.use(inv.state):
        config.config_for_host(inv.get_host("good"), inv)
    text = str(exc.value)
    assert text.startswith("ollama-gate: 2 problem(s) in the settings or secrets; no host was changed:\n")
    assert "  - bad: auth_mode:" in text and "  - bad: proxy_port:" in text
    assert config._checked is None  # nothing was accepted


def test_settings_for_host_needs_no_secrets_and_checks_every_host(tmp_path, monkeypatch):
    monkeypatch.setenv("OLLAMA_GATE_SECRETS", str(tmp_path / "absent.yml"))
    monkeypatch.setattr(config, "_settings_checked", None)
    monkeypatch.chdir(tmp_path)
    inv = inventory(("a", {}), ("b", {"proxy_port": 9000}))
    with ctx_state.use(inv.state):
        assert config.settings_for_host(inv.get_host("b"), inv).proxy_port == 9000
        assert config.settings_for_host(inv.get_host("a"), inv).proxy_port == 8880
    monkeypatch.setattr(config, "_settings_checked", None)
    bad = inventory(("a", {}), ("b", {"proxy_port": True}), ("c", {"auth_mode": "nope"}))
    with pytest.raises(PyinfraError) as exc, ctx_state.use(bad.state):
        config.settings_for_host(bad.get_host("a"), bad)
    text = str(exc.value)
    assert text.startswith("ollama-gate: 2 problem(s) in the settings; no host was changed:\n  - b: proxy_port: ")
    assert "\n  - c: auth_mode: " in text
    assert config._settings_checked is None
