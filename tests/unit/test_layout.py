"""The host-side layout: one object for the stack's paths and container names, and no
other module spelling them out."""

import re
from dataclasses import replace

import yaml

from ollama_gate import PROJECT_DIR
from ollama_gate.compose import render_compose
from ollama_gate.layout import HostLayout, layout_of
from ollama_gate.settings import Settings


def test_layout_follows_the_settings():
    lay = layout_of(replace(Settings(), stack_dir="/srv/gate", stack_project="gate"))
    assert (lay.compose_file, lay.proxy_dir, lay.auth_dir, lay.tls_dir) == (
        "/srv/gate/compose.yml", "/srv/gate/proxy", "/srv/gate/auth", "/srv/gate/tls")
    assert (lay.tls_cert, lay.tls_key) == ("/srv/gate/tls/cert.pem", "/srv/gate/tls/key.pem")
    assert lay.auth_file("htpasswd") == "/srv/gate/auth/htpasswd"
    assert lay.proxy_file("ollama-gate.conf") == "/srv/gate/proxy/ollama-gate.conf"
    assert (lay.ollama_container, lay.proxy_container) == ("gate-ollama", "gate-proxy")


def test_the_compose_file_takes_names_and_mounts_from_the_layout():
    for tls in ("off", "self-signed"):
        s = replace(Settings(), stack_dir="/srv/gate", stack_project="gate", proxy_tls=tls)
        lay = layout_of(s)
        services = yaml.safe_load(render_compose(s, host_memory_mb=16000))["services"]
        assert services["ollama"]["container_name"] == lay.ollama_container
        assert services["proxy"]["container_name"] == lay.proxy_container
        assert services["proxy"]["volumes"] == [f"{h}:{c}:ro" for h, c in lay.proxy_mounts(tls != "off")]
        assert (f"{lay.tls_dir}:/etc/ollama-gate/tls:ro" in services["proxy"]["volumes"]) == (tls != "off")


def test_no_module_spells_out_a_stack_path_or_container_name():
    # What the layout owns: compose.yml, the proxy/auth/tls directories, cert/key names and
    # <project>-<service>, once they are joined to a stack_dir or project.
    spelled = re.compile(r"(\}|stack_dir|\bd)/(compose\.yml|proxy|auth|tls)\b|/(cert|key)\.pem|"
                         r"(project|stack_project) ?\}?\}?-(proxy|ollama)")
    paths = [PROJECT_DIR / "deploy.py", PROJECT_DIR / "templates" / "compose.yml.j2",
             *(PROJECT_DIR / "ollama_gate" / "facts").glob("*.py"),
             *(PROJECT_DIR / "ollama_gate" / "operations").glob("*.py")]
    found = []
    for path in paths:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            if spelled.search(code) and "Example" not in line and '"/opt/' not in code:
                found.append(f"{path.relative_to(PROJECT_DIR)}:{number}: {line.strip()}")
    assert found == []
    assert HostLayout("/x", "p").compose_file == "/x/compose.yml"
