"""The command line: check's exit status, and credentials made, shown once, rotated."""

import os
import subprocess
import sys
from pathlib import Path

import yaml

from ollama_gate import PROJECT_DIR


def run(args, secrets, cwd=PROJECT_DIR):
    env = dict(os.environ, OLLAMA_GATE_SECRETS=str(secrets))
    return subprocess.run([sys.executable, "-m", "ollama_gate", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60)


def test_new_user_new_key_rotate_remove(tmp_path):
    secrets = tmp_path / "secrets.yml"
    r = run(["new-user", "alice"], secrets)
    assert r.returncode == 0
    password = r.stdout.strip()
    assert len(password) >= 22 and password not in r.stderr  # >= 128 bits, shown once on stdout
    assert oct(secrets.stat().st_mode & 0o777) == "0o600"
    key = run(["new-key", "ci"], secrets).stdout.strip()
    assert key.startswith("og_") and len(key) >= 40
    data = yaml.safe_load(secrets.read_text())
    installation_key = data.pop("installation_key")  # made on the first write, then kept
    assert len(installation_key) == 64 and installation_key not in r.stderr + r.stdout
    assert data == {"users": {"alice": password}, "keys": {"ci": key}}
    data["installation_key"] = installation_key

    again = run(["new-user", "alice"], secrets)
    assert again.returncode == 1 and "already exists" in again.stderr
    assert yaml.safe_load(secrets.read_text()) == data  # nothing lost

    new = run(["rotate", "alice"], secrets).stdout.strip()
    assert new != password
    assert yaml.safe_load(secrets.read_text())["users"]["alice"] == new
    assert run(["remove", "ci"], secrets).returncode == 0
    data = yaml.safe_load(secrets.read_text())
    assert data["keys"] == {}
    # Old values are kept under retired: so the deploy can prove they are refused.
    assert data["retired"] == {"alice": [password], "ci": [key]}
    from ollama_gate.secrets_file import load_secrets
    loaded = load_secrets(secrets)
    assert [s.reveal() for s in loaded.retired["alice"]] == [password]
    assert run(["rotate", "nobody"], secrets).returncode == 1


def write_inventory(tmp_path: Path, host_data: str) -> Path:
    (tmp_path / "group_data").mkdir()
    (tmp_path / "group_data" / "all.py").write_text((PROJECT_DIR / "group_data" / "all.py").read_text())
    inv = tmp_path / "inv.py"
    inv.write_text(f"hosts = [('h1', {host_data}), ('h2', {{}})]\n")
    return inv


def test_check_passes_for_a_good_inventory(tmp_path):
    secrets = tmp_path / "s.yml"
    run(["new-user", "alice"], secrets)
    inv = write_inventory(tmp_path, "{'proxy_port': 9000}")
    env_run = subprocess.run([sys.executable, "-m", "ollama_gate", "check", str(inv)], cwd=tmp_path,
                             env=dict(os.environ, OLLAMA_GATE_SECRETS=str(secrets),
                                      PYTHONPATH=str(PROJECT_DIR)),
                             capture_output=True, text=True, timeout=60)
    assert env_run.returncode == 0, env_run.stderr
    assert "h1: ok (basic, 1 credential(s): alice)" in env_run.stdout


def test_check_fails_naming_host_and_setting(tmp_path):
    secrets = tmp_path / "s.yml"
    run(["new-user", "alice"], secrets)
    inv = write_inventory(tmp_path, "{'proxy_port': True, 'auth_mode': 'bearer'}")
    r = subprocess.run([sys.executable, "-m", "ollama_gate", "check", str(inv)], cwd=tmp_path,
                       env=dict(os.environ, OLLAMA_GATE_SECRETS=str(secrets), PYTHONPATH=str(PROJECT_DIR)),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert "h1: proxy_port: must be a whole number from 1 to 65535, got bool True" in r.stderr


def test_the_example_inventory_passes_check_with_credentials_the_cli_made(tmp_path):
    from pyinfra.api import Config, State
    from pyinfra.context import ctx_state
    from pyinfra_cli.inventory import make_inventory

    from ollama_gate import auth

    with ctx_state.use(State(config=Config())):
        inventory = make_inventory(str(PROJECT_DIR / "inventory" / "prod.py"), cwd=str(PROJECT_DIR))
    wanted = {}  # name -> the CLI command that makes it
    for host in inventory:
        mode = auth.mode(host.data.get("auth_mode") or auth.MODE_NAMES[0])
        for name in host.data.get("auth_credentials"):
            wanted[name] = mode.new_command
    assert len(wanted) >= 3
    secrets = tmp_path / "secrets.yml"
    for name, command in sorted(wanted.items()):
        assert run([command, name], secrets).returncode == 0
    checked = run(["check", "inventory/prod.py"], secrets)
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.count(": ok (") == len(list(inventory))
    # secrets.example.yml shows every name the example inventory uses, in its mode's section.
    example = yaml.safe_load((PROJECT_DIR / "secrets.example.yml").read_text())
    for name, command in wanted.items():
        section = next(m.section for m in auth.MODES.values() if m.new_command == command)
        assert name in example[section], name
