"""End-to-end tests: real pyinfra runs of deploy.py over SSH against the lab's hosts."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from ollama_gate import PROJECT_DIR
from tests.lab.fixtures import lab  # noqa: F401

PYINFRA = str(PROJECT_DIR / ".venv" / "bin" / "pyinfra")


@dataclass
class Run:
    returncode: int
    output: str

    def results(self) -> dict[str, tuple[int, int, int]]:
        """Operation name -> (success, error, no change) from pyinfra's results table."""
        rows = {}
        table = self.output.split("--> Results:")[-1]
        for line in table.splitlines():
            m = re.match(r"^\s{4}(\S.*?)\s{2,}(\d+)\s+(\d+|-)\s+(\d+|-)\s+(\d+|-)\s*$", line)
            if m:
                rows[m.group(1)] = tuple(0 if v == "-" else int(v) for v in m.group(3, 4, 5))
        return rows

    def changed(self) -> dict[str, int]:
        """Operations that changed something (Success column), by name."""
        return {name: row[0] for name, row in self.results().items() if row[0] and name != "Grand total"}


def deploy(*args: str, secrets: Path | None = None, timeout: int = 900, env: dict | None = None,
           yes: bool = True, files: tuple[str, ...] = ("deploy.py",)) -> Run:
    """Run `pyinfra -y inventory/lab.py deploy.py` (plus args) from the project directory.
    With --dry pass yes=False: under -y pyinfra skips the change detection a dry run shows."""
    run_env = dict(os.environ, **(env or {}))
    if secrets is not None:
        run_env["OLLAMA_GATE_LAB_SECRETS"] = str(secrets)
    proc = subprocess.run([PYINFRA, *(["-y"] if yes else []), *args, "inventory/lab.py", *files],
                          cwd=PROJECT_DIR, env=run_env, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)
    return Run(proc.returncode, proc.stdout + proc.stderr)


@pytest.fixture(scope="session")
def deployed(lab):  # noqa: F811
    """The lab with the gate deployed by a first run (the first test to ask pays for it)."""
    first = deploy()
    assert first.returncode == 0, first.output[-4000:]
    return {"lab": lab, "first": first}


@pytest.fixture
def secrets_copy(lab, tmp_path):  # noqa: F811
    """A copy of the lab's secrets to rotate; the lab is put back to its own secrets after."""
    copy = tmp_path / "secrets.yml"
    shutil.copy(lab["secrets_file"], copy)
    yield copy
    restored = deploy()
    assert restored.returncode == 0, restored.output[-4000:]


def ssh(lab, index: int, command: str, timeout: int = 60) -> subprocess.CompletedProcess:  # noqa: F811
    """Run a command on lab host `index` (0-based) over real SSH."""
    h = lab["hosts"][index]
    return subprocess.run(
        ["ssh", "-i", lab["ssh_key"], "-p", str(h["ssh_port"]), "-o", "StrictHostKeyChecking=no",
         "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", f"{h['ssh_user']}@{h['ssh_host']}", command],
        capture_output=True, text=True, timeout=timeout)
