"""config_for_host: the first host's call checks every host; one bad host stops them all."""

import os
import subprocess
import sys
from pathlib import Path

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


def test_the_first_call_logs_the_access_matrix_and_its_warnings(secrets, caplog):
    secrets.write_text(f"users:\n  alice: {PASSWORD}\n  bob: Hm4tQw9Zr2Lk7Vc5Nx8Bp3Jd6F\n")
    inv = inventory(("a", {"auth_credentials": ["alice"]}))
    with ctx_state.use(inv.state), caplog.at_level("INFO", logger="pyinfra"):
        config.config_for_host(inv.get_host("a"), inv)
    logged = [(r.levelname, r.getMessage()) for r in caplog.records if r.name.startswith("pyinfra")]
    assert logged == [
        ("INFO", "access: credential names x hosts (from the inventory and the secrets file; no host asked)"),
        ("INFO", "  credential  in     expires  a"),
        ("INFO", "  alice       users  -        yes"),
        ("INFO", "  bob         users  -        -"),
        ("WARNING", "ollama-gate: 'bob' (users:) is assigned to no host: add it to auth_credentials of a host "
                    "with auth_mode basic (or leave that list empty for all)"),
    ]


# Run as the pyinfra command line does (pyinfra.is_cli), in a process of its own: the run's
# summary is printed when that process exits.
SUMMARY_RUN = """
import pyinfra
pyinfra.is_cli = True
from pyinfra.api import Config, Inventory, State
from pyinfra.api.state import StateStage
from pyinfra.context import ctx_state
import ollama_gate.config as config
inv = Inventory(([("a", {}), ("b", {"verify_enabled": False})], {}))
state = State(inventory=inv, config=Config())
with ctx_state.use(state):
    config.config_for_host(inv.get_host("b"), inv)
state.current_stage = StateStage.Execute
"""


def test_the_first_call_starts_the_runs_summary_of_every_host(secrets):
    inv = inventory(("a", {}), ("b", {"verify_enabled": False}))
    with ctx_state.use(inv.state):
        assert config.config_for_host(inv.get_host("b"), inv).settings.verify_enabled is False
    # The project this test imports (a mutated copy under `make mutation`), not an installed one.
    project = Path(config.__file__).resolve().parent.parent
    proc = subprocess.run([sys.executable, "-c", SUMMARY_RUN], cwd=secrets.parent, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": str(project)})
    assert proc.stderr.splitlines()[-3:] == [
        "--> ollama-gate: every host of the inventory:",
        "    a: not verified: the run ended before its verification",
        "    b: deployed (not verified: verify_enabled = False)"], proc.stderr
    assert proc.returncode == 1  # a host of the run was not verified


def test_the_inventorys_groups_make_gateways_and_unknown_data_is_warned_first(tmp_path, monkeypatch):
    secrets = tmp_path / "secrets.yml"
    secrets.write_text(f"users:\n  alice: {PASSWORD}\n  bob: Hm4tQw9Zr2Lk7Vc5Nx8Bp3Jd6F\n")
    monkeypatch.setenv("OLLAMA_GATE_SECRETS", str(secrets))
    (tmp_path / "ca.pem").write_text("not read here\n")
    monkeypatch.chdir("/")
    acme = {"proxy_tls": "acme", "proxy_acme_names": ["gw.example.com"], "proxy_acme_ca_cert": "ca.pem",
            "proxy_http_port": 8081, "auth_credentials": ["alice"]}
    inv = Inventory(([("gw", acme), ("gpu1", {})], {}), override_data={"model": "x:1"},
                    gateway=(["gw"], {}), backend=(["gpu1"], {}))
    checked = config.check_pyinfra_inventory(inv, base_dir=tmp_path)
    assert config.inventory_groups(inv) == {"gw": ["gateway"], "gpu1": ["backend"]}
    assert (checked.configs["gw"].role, checked.configs["gpu1"].role) == ("gateway", "backend")
    assert [w.split(":")[0] for w in checked.warnings] == ["--data model", "'bob' (users"]
