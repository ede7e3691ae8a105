"""Per-host and per-group overrides work the pyinfra way: host beats group beats all."""

import os

from pyinfra.api import Config, State
from pyinfra.context import ctx_state
from pyinfra_cli.inventory import make_inventory

from ollama_gate import PROJECT_DIR
from ollama_gate.config import inventory_hosts
from ollama_gate.settings import settings_from_data


def test_host_beats_group_beats_all(tmp_path):
    (tmp_path / "group_data").mkdir()
    (tmp_path / "group_data" / "all.py").write_text((PROJECT_DIR / "group_data" / "all.py").read_text())
    (tmp_path / "group_data" / "gpu.py").write_text("proxy_port = 9000\nauth_mode = 'bearer'\n")
    inv = tmp_path / "inv.py"
    inv.write_text("gpu = [('h1', {'proxy_port': 9100}), ('h2', {})]\nother = [('h3', {})]\n")
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        with ctx_state.use(State(config=Config())):
            hosts = dict(inventory_hosts(make_inventory(str(inv), cwd=str(tmp_path))))
    finally:
        os.chdir(cwd)
    s = {name: settings_from_data(data) for name, data in hosts.items()}
    assert (s["h1"].proxy_port, s["h1"].auth_mode) == (9100, "bearer")
    assert (s["h2"].proxy_port, s["h2"].auth_mode) == (9000, "bearer")
    assert (s["h3"].proxy_port, s["h3"].auth_mode) == (8880, "basic")
