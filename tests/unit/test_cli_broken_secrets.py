"""The CLI reads the secrets file itself (to change it): a YAML error there never quotes the line."""

import os
import subprocess
import sys

import pytest

from ollama_gate import PROJECT_DIR

PASSWORD = "Xq7vLp2Rk9tZw4Nc8HjB3sDf6G"
OTHER = "Hm4tQw9Zr2Lk7Vc5Nx8Bp3Jd6F"


@pytest.mark.parametrize("command", [["rotate", "alice"], ["remove", "alice"], ["new-user", "bob"]])
def test_cli_on_a_broken_file_never_prints_the_line(tmp_path, command):
    """The CLI reads the file itself (to change it); a YAML error there must not quote it either."""
    path = tmp_path / "secrets.yml"
    path.write_text(f"users:\n  alice: {PASSWORD}: x\n  carol: {OTHER}\n")
    before = path.read_bytes()
    r = subprocess.run([sys.executable, "-m", "ollama_gate", *command], cwd=PROJECT_DIR,
                       env=dict(os.environ, OLLAMA_GATE_SECRETS=str(path)),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    for secret in (PASSWORD, OTHER):
        assert secret not in r.stdout and secret not in r.stderr, r.stderr
    assert path.read_bytes() == before


def test_check_on_a_broken_file_never_prints_the_line(tmp_path):
    """`check` (and the deploy) adds the installation key before reading the secrets: that
    read of a broken file must not quote it either (it printed PyYAML's traceback)."""
    path = tmp_path / "secrets.yml"
    path.write_text(f'users:\n  alice: "{PASSWORD}\n  carol: {OTHER}\n')
    before = path.read_bytes()
    inv = tmp_path / "inv.py"
    inv.write_text("hosts = [('h1', {'proxy_port': 9000})]\n")
    r = subprocess.run([sys.executable, "-m", "ollama_gate", "check", str(inv)], cwd=tmp_path,
                       env=dict(os.environ, OLLAMA_GATE_SECRETS=str(path), PYTHONPATH=str(PROJECT_DIR)),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert f"{str(path)!r} is not valid YAML at line 4" in r.stderr
    for secret in (PASSWORD, OTHER):
        assert secret not in r.stdout and secret not in r.stderr, r.stderr
    assert path.read_bytes() == before
