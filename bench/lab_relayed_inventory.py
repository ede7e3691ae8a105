"""Inventory for bench/rerun_bench.py: the lab's hosts, each reached through a relay that
adds round-trip time (lab.latency). $OLLAMA_GATE_BENCH_SSH_PORTS maps host name -> the
relay's port on 127.0.0.1; everything else is inventory/lab.py's."""

import json
import os
import runpy
from pathlib import Path

_lab = runpy.run_path(str(Path(__file__).resolve().parent.parent / "inventory" / "lab.py"))
_ports = json.loads(os.environ.get("OLLAMA_GATE_BENCH_SSH_PORTS", "{}"))


def _relayed(hosts):
    return [(name, {**data, "ssh_port": _ports.get(name, data["ssh_port"])}) for name, data in hosts]


lab_basic = _relayed(_lab["lab_basic"])
lab_bearer = _relayed(_lab["lab_bearer"])
