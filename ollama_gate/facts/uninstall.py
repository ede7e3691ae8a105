"""Facts about what of a gate is on a host: the Compose project's Docker objects and the
stack directory (read by uninstall.py)."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from typing_extensions import override

from pyinfra.api import FactBase

from ..layout import HostLayout

# The first line of every compose.yml the deploy writes (templates/compose.yml.j2).
MANAGED_MARK = "# Managed by ollama-gate"


@dataclass
class GateOnHost:
    containers: list = field(default_factory=list)
    networks: list = field(default_factory=list)
    volumes: list = field(default_factory=list)
    # "absent", "ours" (holds the compose.yml the deploy wrote, or is empty) or "foreign"
    stack_dir: str = "absent"

    @property
    def present(self) -> bool:
        return bool(self.containers or self.networks or self.volumes) or self.stack_dir != "absent"


class GateResources(FactBase[GateOnHost]):
    """
    Returns the Docker objects Compose labelled with the project (containers, networks, volumes)
    and the state of the stack directory. Nothing of a gate: all empty and "absent",
    also when Docker is not installed.

    .. code:: python

        GateOnHost(containers=["ollama-gate-ollama", "ollama-gate-proxy"],
                   networks=["ollama-gate_backend"], volumes=["ollama-gate_ollama-models"],
                   stack_dir="ours")
    """

    default = GateOnHost

    @override
    def command(self, project: str, stack_dir: str) -> str:
        label = shlex.quote(f"label=com.docker.compose.project={project}")
        d = shlex.quote(stack_dir)
        compose_file = HostLayout(stack_dir, project).compose_file
        return (
            "if command -v docker >/dev/null 2>&1; then "
            f"docker ps -a --filter {label} --format 'container {{{{.Names}}}}' 2>/dev/null; "
            f"docker network ls --filter {label} --format 'network {{{{.Name}}}}' 2>/dev/null; "
            f"docker volume ls --filter {label} --format 'volume {{{{.Name}}}}' 2>/dev/null; fi; "
            f"if [ -e {d} ]; then "
            f"if head -n 1 {shlex.quote(compose_file)} 2>/dev/null | grep -q '^{MANAGED_MARK}' "
            f"|| [ -z \"$(ls -A {d} 2>/dev/null)\" ]; then echo 'dir ours'; "
            "else echo 'dir foreign'; fi; fi; true"
        )

    @override
    def process(self, output: list[str]) -> GateOnHost:
        gate = GateOnHost()
        for line in output:
            kind, _, name = line.strip().partition(" ")
            if kind == "container":
                gate.containers.append(name)
            elif kind == "network":
                gate.networks.append(name)
            elif kind == "volume":
                gate.volumes.append(name)
            elif kind == "dir" and name in ("ours", "foreign"):
                gate.stack_dir = name
        gate.containers.sort()
        gate.networks.sort()
        gate.volumes.sort()
        return gate
