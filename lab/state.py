"""State: .lab/lab.json, the machine-readable description of the running lab.

inventory/lab.py, the demo's `endpoints` and the tests read it. It names credentials and
says where their values are (the lab's secrets file); it holds no secret itself.

    {"version": 1, "ssh_key": ".../.lab/ssh/id_ed25519", "secrets_file": ".../.lab/secrets.yml",
     "images_archive_dir": ".../.lab/images",
     "images": {"ollama": "...", "nginx": "...", "openresty": "..."},
     "hosts": [{"name": "ollama-gate-lab-1", "ssh_host": "127.0.0.1", "ssh_port": 22201,
                "ssh_user": "root", "proxy_port": 18881, "proxy_url": "http://127.0.0.1:18881",
                "auth_mode": "basic", "credentials": [{"name": "lab-user-1", "section": "users"}]},
               ...]}
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import yaml

from ollama_gate import PROJECT_DIR, auth

from . import (IMAGES_DIR, LAB_NAME, NGINX_IMAGE, OLLAMA_IMAGE, OPENRESTY_IMAGE, SECRETS_FILE, SSH_KEY,
               STATE_FILE)
from .run import run

VERSION = 1
# auth_mode -> (secrets file section, the ollama_gate command that adds one, name stem):
# basic -> users, new-user, lab-user; bearer -> keys, new-key, lab-key.
CREDENTIAL_KINDS = {m.name: (m.section, m.new_command, "lab-" + m.new_command.removeprefix("new-"))
                    for m in auth.MODES.values()}


# The name under which the deploy keeps a gateway's credential for its backends
# (group_data/all.py gateway_service_credential), and the auth mode of a fleet's backends.
SERVICE_CREDENTIAL = "ollama-gate-gateway"
FLEET_BACKEND_MODE = "bearer"


def auth_mode(index: int) -> str:
    """Host 1 basic, host 2 bearer, and so on through the registry's modes."""
    return auth.MODE_NAMES[(index - 1) % len(auth.MODE_NAMES)]


def role(index: int, fleet: bool) -> str:
    """A fleet's host 1 is the gateway and the others its backends; else every host is an
    ordinary endpoint."""
    if not fleet:
        return "endpoint"
    return "gateway" if index == 1 else "backend"


def _secrets_raw() -> dict:
    if not SECRETS_FILE.exists():
        return {}
    return yaml.safe_load(SECRETS_FILE.read_text()) or {}


def ensure_credential(index: int, fleet: bool = False) -> dict:
    """The lab credential of host index, added with the project's own CLI when missing.

    A fleet's backends accept only the gateway's service credential, which the deploy
    makes (in the lab's secrets file) on its first run."""
    if role(index, fleet) == "backend":
        return {"name": SERVICE_CREDENTIAL, "section": CREDENTIAL_KINDS[FLEET_BACKEND_MODE][0]}
    section, command, stem = CREDENTIAL_KINDS[auth_mode(index)]
    name = f"{stem}-{index}"
    if name not in (_secrets_raw().get(section) or {}):
        env = dict(os.environ, OLLAMA_GATE_SECRETS=str(SECRETS_FILE))
        # The value is printed once on stdout; it is in the secrets file, so drop it here.
        run([sys.executable, "-m", "ollama_gate", command, name], env=env, capture=True)
    return {"name": name, "section": section}


def secret_value(name: str, state: dict | None = None) -> str:
    """The value of the lab credential name, read from the lab's secrets file."""
    from ollama_gate.secrets_file import show
    from ollama_gate.settings import ConfigError

    path = (state or {}).get("secrets_file") or SECRETS_FILE
    try:
        return show(Path(path), name)[1].reveal()  # `name: value` or `name: {value: ...}`
    except ConfigError as e:
        raise SystemExit(f"lab: {e}") from None


def host_entry(index: int, host: dict, credential: dict, fleet: bool = False) -> dict:
    """One host of lab.json. In a fleet, ``lab_address`` is where the other lab hosts reach
    it (its address on the lab's Docker network): the gateway's way to its backends."""
    host_role = role(index, fleet)
    entry = {
        "name": host["name"],
        "role": host_role,
        "ssh_host": "127.0.0.1",
        "ssh_port": host["ssh_port"],
        "ssh_user": "root",
        "proxy_port": host["proxy_port"],
        "proxy_url": f"http://127.0.0.1:{host['proxy_port']}",
        "auth_mode": FLEET_BACKEND_MODE if host_role == "backend" else auth_mode(index),
        "credentials": [credential],
    }
    if fleet:
        entry["lab_address"] = host["lab_address"]
    return entry


def write_state(hosts: list[dict], fleet: bool = False) -> dict:
    """Write lab.json (mode 600, atomically) and return it."""
    state = {
        "fleet": fleet,
        "version": VERSION,
        "lab_name": LAB_NAME,
        "project_dir": str(PROJECT_DIR),
        "ssh_key": str(SSH_KEY),
        "secrets_file": str(SECRETS_FILE),
        "images_archive_dir": str(IMAGES_DIR),
        "images": {"ollama": OLLAMA_IMAGE, "nginx": NGINX_IMAGE, "openresty": OPENRESTY_IMAGE},
        "hosts": hosts,
    }
    tmp = STATE_FILE.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(state, indent=2) + "\n")
    tmp.chmod(0o600)
    tmp.replace(STATE_FILE)
    return state


def read_state() -> dict | None:
    """lab.json, or None when the lab is not up."""
    if not STATE_FILE.exists():
        return None
    return json.loads(STATE_FILE.read_text())
