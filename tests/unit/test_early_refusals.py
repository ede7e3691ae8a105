"""Input that used to fail late (on the host, at the end) or silently, refused or warned
about before any host is touched (#14 item 6)."""

from __future__ import annotations

import pytest
from pyinfra.api import Inventory

from ollama_gate.checks import report_path_error
from ollama_gate.config import check_pyinfra_inventory
from ollama_gate.inventory_checks import group_conflicts, unknown_data_keys
from ollama_gate.secrets_file import load_secrets
from ollama_gate.settings import ConfigError, Settings


def inventory(override=None, **groups):
    hosts = sorted({h for names, _ in groups.values() for h in names})
    return Inventory((hosts, {}), override_data=override or {}, **groups)


def test_a_host_in_a_basic_and_a_bearer_group_is_refused():
    inv = inventory(gpu=(["h1", "h2"], {"auth_mode": "basic"}), ci=(["h1"], {"auth_mode": "bearer"}))
    assert group_conflicts(inv) == [
        "h1: auth_mode: the host is in groups that disagree (gpu sets 'basic', ci sets 'bearer'); set "
        "auth_mode in the host's own data, or keep the host in one of those groups"]


def test_groups_that_agree_or_a_deciding_host_value_pass():
    inv = inventory(gpu=(["h1"], {"auth_mode": "bearer", "models": ["a:1"]}),
                    ci=(["h1"], {"auth_mode": "bearer", "models": ["a:1"]}))
    assert group_conflicts(inv) == []
    decided = Inventory(([("h1", {"auth_mode": "basic"})], {}), gpu=(["h1"], {"auth_mode": "basic"}),
                        ci=(["h1"], {"auth_mode": "bearer"}))
    assert group_conflicts(decided) == []
    overridden = inventory({"auth_mode": "basic"}, gpu=(["h1"], {"auth_mode": "basic"}),
                           ci=(["h1"], {"auth_mode": "bearer"}))
    assert group_conflicts(overridden) == []


def test_data_keys_that_are_nothing_are_warned_about_with_the_closest_setting():
    inv = inventory({"model": "gemma3:1b", "verify": False, "ssh_port": 2222, "_sudo": True,
                     "models": ["x:1"], "docker_identifier": "abc"}, all_hosts=(["h1"], {}))
    warnings = unknown_data_keys(inv)
    assert len(warnings) == 2, warnings
    assert warnings[0] == ("--data model: not an ollama-gate setting, and pyinfra does not use it "
                           "either: it is ignored; did you mean models?")
    assert warnings[1].startswith("--data verify: not an ollama-gate setting") and "did you mean verify_" in warnings[1]


def test_pyinfra_docker_connector_keys_are_not_setting_typos(tmp_path):
    from ollama_gate.settings import settings_from_data

    assert settings_from_data({"docker_identifier": "abc"}, tmp_path).docker_users == ()


@pytest.mark.parametrize("path, reason", [
    ("/etc/hostname/report.json", "'/etc/hostname' is not a directory"),
    ("/sys/report.json", "Permission denied"),
])
def test_an_unwritable_report_path_is_refused_up_front(path, reason):
    err = report_path_error(Settings(verify_report=path))
    assert err == f"verify_report: cannot write the report to {path!r}: {reason}"


def test_a_report_path_that_is_a_directory_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("OLLAMA_GATE_REPORT", str(tmp_path))
    assert report_path_error(Settings()) == (
        f"OLLAMA_GATE_REPORT: {str(tmp_path)!r} is a directory; give the path of a .json file")
    monkeypatch.setenv("OLLAMA_GATE_REPORT", str(tmp_path / "new" / "dir" / "r.json"))
    assert report_path_error(Settings()) is None  # directories are made when it is written


def test_secrets_path_that_is_a_directory(tmp_path):
    with pytest.raises(ConfigError) as e:
        load_secrets(tmp_path)
    assert e.value.errors == [f"OLLAMA_GATE_SECRETS: {str(tmp_path)!r} is a directory; give the path "
                              "of the secrets YAML file itself"]


@pytest.mark.parametrize("data,where", [
    (b"users:\n  alice: \"caf\xe9-latin1-password-000000\"\n", "line 2, column 14"),
    (b"\nusers:\n  ab\xff: x\n", "line 3, column 5"),
    (b"\n\xff", "line 2, column 1"),
])
def test_secrets_file_that_is_not_utf8_is_refused_without_quoting_it(tmp_path, data, where):
    path = tmp_path / "secrets.yml"
    path.write_bytes(data)
    with pytest.raises(ConfigError) as e:
        load_secrets(path)
    assert e.value.errors == [f"OLLAMA_GATE_SECRETS: the secrets file {str(path)!r} is not UTF-8 text "
                              f"({where}); save it as UTF-8"]


def test_secrets_file_that_cannot_be_read(tmp_path):
    # Root reads any file whatever its mode; /proc/self/mem is a file that no read() returns.
    from pathlib import Path

    with pytest.raises(ConfigError) as e:
        load_secrets(Path("/proc/self/mem"))
    assert e.value.errors[0].startswith("OLLAMA_GATE_SECRETS: the secrets file '/proc/self/mem' cannot be read (")


def test_check_inventory_lists_group_conflicts_with_the_other_problems(tmp_path, monkeypatch):
    secrets = tmp_path / "secrets.yml"
    secrets.write_text("users:\n  alice: \"a-long-enough-password-0123\"\nkeys:\n"
                       "  ci: \"og_a-long-enough-key-0123456789abcdef\"\n")
    monkeypatch.setenv("OLLAMA_GATE_SECRETS", str(secrets))
    inv = inventory({"proxy_port": 70000}, gpu=(["h1"], {"auth_mode": "basic"}), ci=(["h1"], {"auth_mode": "bearer"}))
    with pytest.raises(ConfigError) as e:
        check_pyinfra_inventory(inv, tmp_path)
    assert any(err.startswith("h1: auth_mode: the host is in groups that disagree") for err in e.value.errors)
    assert "h1: proxy_port: must be from 1 to 65535, got 70000" in e.value.errors
