"""Inventory of the local lab: the hosts that `python -m lab up` (make lab-up) started.

Everything comes from .lab/lab.json: SSH port and key, auth mode (host 1 basic, host 2
bearer, alternating), the lab's credential names, and the stand-in image archives, loaded
with images_source = "archive" because the lab cannot reach Docker Hub.

    pyinfra -y inventory/lab.py deploy.py
"""

import json
import os
from pathlib import Path

_STATE = Path(__file__).resolve().parent.parent / ".lab" / "lab.json"
if not _STATE.exists():
    raise SystemExit(f"{_STATE} does not exist: start the lab first (make lab-up, or "
                     "python -m lab up)")
_lab = json.loads(_STATE.read_text())

# The lab's credentials are in the lab's own secrets file, never in the real one
# (tests that rotate credentials point OLLAMA_GATE_LAB_SECRETS at a copy of it).
os.environ["OLLAMA_GATE_SECRETS"] = os.environ.get("OLLAMA_GATE_LAB_SECRETS") or _lab["secrets_file"]


def _host(entry: dict) -> tuple:
    return (entry["name"], {
        "ssh_hostname": entry["ssh_host"],
        "ssh_port": entry["ssh_port"],
        "ssh_user": entry["ssh_user"],
        "ssh_key": _lab["ssh_key"],
        "ssh_known_hosts_file": "/dev/null",
        "ssh_strict_host_key_checking": "no",
        "auth_mode": entry["auth_mode"],
        "auth_credentials": [c["name"] for c in entry["credentials"]],
        # The lab maps each host's proxy_port to its own port on 127.0.0.1.
        "proxy_public_url": entry["proxy_url"],
        # Docker's own apt repository is out of reach here; Debian's docker.io is not.
        "docker_install_method": "distro",
        "images_source": "archive",
        "images_archive_dir": _lab["images_archive_dir"],
        "images_ollama": _lab["images"]["ollama"],
        "images_nginx": _lab["images"]["nginx"],
        "images_openresty": _lab["images"]["openresty"],
    })


def _fleet_host(entry: dict) -> tuple:
    name, data = _host(entry)
    if entry["role"] == "backend" and os.environ.get("OLLAMA_GATE_LAB_OLLAMA_ENV"):
        # bench/gateway_bench.py: the stand-in's environment on the backends, e.g.
        # {"OLLAMA_NUM_PARALLEL": "1", "OLLAMA_STANDIN_DELAY": "5"} (one request at a time).
        data["ollama_environment"] = json.loads(os.environ["OLLAMA_GATE_LAB_OLLAMA_ENV"])
    if entry["role"] == "backend":
        # The gateway reaches its backends over the lab's Docker network, not 127.0.0.1; a
        # backend accepts only the gateway's service credential (made by the deploy).
        data["gateway_backend_address"] = entry["lab_address"]
        data.pop("auth_credentials")
        tls = os.environ.get("OLLAMA_GATE_LAB_BACKEND_TLS")
        if tls:
            # tests/e2e/test_gateway_fleet.py: the backends speak HTTPS (self-signed, or acme
            # from the lab's Pebble as <name>.lab.test), the gateway checks their certificates;
            # OLLAMA_GATE_LAB_BACKEND_DATA (JSON, below) adds settings (the ACME directory, CAs).
            port = entry["proxy_url"].rsplit(":", 1)[1]
            data["proxy_tls"] = tls
            data["proxy_public_url"] = (f"https://{entry['name']}.lab.test:{port}" if tls == "acme"
                                        else f"https://127.0.0.1:{port}")
        # OLLAMA_GATE_LAB_BACKEND_DATA also without TLS, e.g. {"auth_mode": "basic"}.
        data.update(json.loads(os.environ.get("OLLAMA_GATE_LAB_BACKEND_DATA") or "{}"))
    return name, data


if _lab.get("fleet"):
    # `make demo-fleet`: roles the pyinfra way, as inventory groups. group_data/all.py's
    # gateway_backends = ["backend"] names this group. OLLAMA_GATE_LAB_ONLY (host names,
    # comma-separated) leaves the others out of the inventory, as a user removes a backend.
    _only = [n for n in os.environ.get("OLLAMA_GATE_LAB_ONLY", "").split(",") if n]
    _fleet = [h for h in _lab["hosts"] if not _only or h["name"] in _only]
    gateway = [_fleet_host(h) for h in _fleet if h["role"] == "gateway"]
    backend = [_fleet_host(h) for h in _fleet if h["role"] == "backend"]
else:
    lab_basic = [_host(h) for h in _lab["hosts"] if h["auth_mode"] == "basic"]
    lab_bearer = [_host(h) for h in _lab["hosts"] if h["auth_mode"] == "bearer"]
