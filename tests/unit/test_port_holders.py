"""PortHolders' commands run by a real shell, with stand-in `ss` and `docker` CLIs on PATH
that print what the real ones print and count their runs: whatever listens on the port is
asked only when the stack's proxy does not publish it."""

from __future__ import annotations

import subprocess

import pytest

from ollama_gate.facts import inspected
from ollama_gate.facts.stack import PortHolders

SS_LINE = 'LISTEN 0      511          0.0.0.0:8880      0.0.0.0:*    users:(("nginx",pid=812,fd=6))'


@pytest.fixture
def tools(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "ss").write_text(f"#!/bin/sh\necho ss >> {tmp_path}/runs\necho '{SS_LINE}'\n")
    # `docker port <proxy>` as the real CLI prints it; the published host port from $PUBLISHED.
    (bin_dir / "docker").write_text(
        "#!/bin/sh\n[ -n \"$PUBLISHED\" ] || exit 1\n"
        "echo \"80/tcp -> 0.0.0.0:$PUBLISHED\"; echo \"80/tcp -> [::]:$PUBLISHED\"\n")
    for tool in ("ss", "docker"):
        (bin_dir / tool).chmod(0o755)

    def run(command: str, **env):
        runs = tmp_path / "runs"
        runs.unlink(missing_ok=True)
        out = subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=True,
                             env={"PATH": f"{bin_dir}:/usr/bin:/bin", **env}).stdout
        return PortHolders().process(out.splitlines()), runs.exists()
    return run


def inspected_line(published: str) -> str:
    return f"/ollama-gate-proxy running 812 project=ollama-gate service=proxy hash=ab {published}".strip()


@pytest.mark.parametrize("shared", [True, False])
def test_a_port_the_proxy_publishes_is_ours_and_nobody_else_is_asked(tools, shared):
    fact = PortHolders()
    command = fact.shared_command if shared else fact.command
    line = inspected_line("published=80/tcp->0.0.0.0:8880 published=80/tcp->:::8880")
    env = {inspected.VAR: line} if shared else {"PUBLISHED": "8880"}  # HostState's variable, or docker port
    held, asked = tools(command(project="ollama-gate", port=8880), **env)
    assert (held.published, held.port_listener, asked) == ([8880], "", False)


@pytest.mark.parametrize("shared", [True, False])
@pytest.mark.parametrize("published", ["18880", ""])
def test_a_port_the_proxy_does_not_publish_is_asked_who_listens(tools, shared, published):
    fact = PortHolders()
    command = fact.shared_command if shared else fact.command
    line = inspected_line(f"published=80/tcp->0.0.0.0:{published}" if published else "")
    env = {inspected.VAR: line} if shared else {"PUBLISHED": published}
    held, asked = tools(command(project="ollama-gate", port=8880), **env)
    assert held.published == ([int(published)] if published else [])
    assert asked and held.port_listener == 'users:(("nginx",pid=812,fd=6))'
