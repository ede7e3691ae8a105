"""One ``docker container inspect`` of the stack's containers, shared by the facts HostState
reads together that each asked the engine about them: their Compose service, state and
config hash (ComposeStack), the proxy's published ports (PortHolders), Ollama's process
(OllamaModels) and the proxy's state and bind mounts (ProxyLoaded). Each docker CLI call
starts a Go program (~20 ms of a small host's CPU, most of what those sections cost); on a
no-change rerun of many hosts sharing cores, that is what the run waits for. Read alone
(``host.get_fact``), each fact still asks docker itself.

The containers are asked by name: the compose file names each service's container
(``container_name``, layout.container_name), so the project's proxy and Ollama are those
names; ComposeStack alone lists the project by label (``docker ps``), which also finds a
one-off ``compose run`` container of a service. Mount sources are taken to hold no
space (the stack directory's paths), as ProxyLoaded's own inspect always did.

The answer is held in the shell variable ``$og_containers``: a line per container that
exists, ``/<name> <status> <pid>``, then its Compose labels (`` project=<project>
service=<service> hash=<config hash>``: what ComposeStack's ``docker ps`` lists), ``
<source>=<destination>`` per bind mount (sources are absolute paths) and ``
published=<port>/<proto>-><host ip>:<host port>`` per published port (what ``docker port``
prints, in one word).
"""

from __future__ import annotations

import shlex

VAR = "og_containers"
TEMPLATE = ("{{.Name}} {{.State.Status}} {{.State.Pid}}"
            " project={{index .Config.Labels \"com.docker.compose.project\"}}"
            " service={{index .Config.Labels \"com.docker.compose.service\"}}"
            " hash={{index .Config.Labels \"com.docker.compose.config-hash\"}}"
            "{{range .Mounts}}{{if eq .Type \"bind\"}} {{.Source}}={{.Destination}}{{end}}{{end}}"
            "{{range $p, $c := .NetworkSettings.Ports}}{{range $c}} published={{$p}}->{{.HostIp}}:{{.HostPort}}"
            "{{end}}{{end}}")


def read(containers: list[str] | tuple[str, ...]) -> str:
    """Shell setting ``$og_containers`` to the line of each of ``containers`` that exists
    (empty without Docker or an engine that answers)."""
    names = " ".join(shlex.quote(c) for c in containers)
    return (f"{VAR}=; if command -v docker >/dev/null 2>&1; then "
            f"{VAR}=$(docker container inspect -f {shlex.quote(TEMPLATE)} {names} 2>/dev/null); fi")


def fields(container: str, action: str, success: str = "found") -> str:
    """Shell running the awk ``action`` on the line of ``container``; its exit status is 0
    when the awk variable ``success`` is set (by default ``found``: there is such a line)."""
    program = f"$1 == c {{ found = 1; {action} }} END {{ exit !{success} }}"
    return f"printf '%s\\n' \"${VAR}\" | awk -v c={shlex.quote('/' + container)} {shlex.quote(program)}"


def of_project(project: str, action: str) -> str:
    """Shell running the awk ``action`` on the line of each container of the Compose
    ``project``."""
    program = f"$4 == p {{ {action} }}"
    return f"printf '%s\\n' \"${VAR}\" | awk -v p={shlex.quote('project=' + project)} {shlex.quote(program)}"
