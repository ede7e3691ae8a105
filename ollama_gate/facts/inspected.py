"""One ``docker inspect`` of the stack's containers and images, shared by the facts HostState
reads together that each asked the engine about them: their Compose service, state and
config hash (ComposeStack), the proxy's published ports (PortHolders), Ollama's process
(OllamaModels), the proxy's state and bind mounts (ProxyLoaded) and which of the stack's
images are present (DockerImageRefs, was a ``docker image ls`` of its own). Each docker CLI call
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
prints, in one word); and a line per image that exists, ``image`` then its references
(``repo:tag`` and ``repo@digest``). An object that does not exist prints nothing.
"""

from __future__ import annotations

import shlex

VAR = "og_containers"
# One template for containers and images: `docker inspect` (of any kind of object) renders
# each object from its raw JSON, where a missing key is an error and numbers are floats.
# So: the kind is told by ``index . "State"`` (nil for an image), labels are read with
# ``with`` (a container may have none), the pid is printed as JSON (a float such as
# 1234567 would print as 1.234567e+06).
_LABEL = '{{{{with .Config.Labels}}}}{{{{with index . "com.docker.compose.{}"}}}}{{{{.}}}}{{{{end}}}}{{{{end}}}}'
CONTAINER = ("{{.Name}} {{.State.Status}} {{json .State.Pid}}"
             f" project={_LABEL.format('project')} service={_LABEL.format('service')}"
             f" hash={_LABEL.format('config-hash')}"
             "{{range .Mounts}}{{if eq .Type \"bind\"}} {{.Source}}={{.Destination}}{{end}}{{end}}"
             "{{range $p, $c := .NetworkSettings.Ports}}{{range $c}} published={{$p}}->{{.HostIp}}:{{.HostPort}}"
             "{{end}}{{end}}")
IMAGE = "image{{range .RepoTags}} {{.}}{{end}}{{range .RepoDigests}} {{.}}{{end}}"
TEMPLATE = f"{{{{if index . \"State\"}}}}{CONTAINER}{{{{else}}}}{IMAGE}{{{{end}}}}"


def read(containers: list[str] | tuple[str, ...], images: list[str] | tuple[str, ...] = ()) -> str:
    """Shell setting ``$og_containers`` to the line of each of ``containers`` and ``images``
    that exists (empty without Docker or an engine that answers)."""
    names = " ".join(shlex.quote(c) for c in [*containers, *images])
    return (f"{VAR}=; if command -v docker >/dev/null 2>&1; then "
            f"{VAR}=$(docker inspect -f {shlex.quote(TEMPLATE)} {names} 2>/dev/null); fi")


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


def image_refs() -> str:
    """Shell printing the images' references as ``docker image ls`` prints them (what
    DockerImageRefs reads): ``<repository> <tag> <none>`` per tag, ``<repository> <none>
    <digest>`` per registry digest (a tag follows the repository's last ':' that has no
    '/' after it: a registry's port is not a tag)."""
    program = ('$1 == "image" { for (i = 2; i <= NF; i++) { r = $i; a = index(r, "@"); '
               'if (a > 0) print substr(r, 1, a - 1), "<none>", substr(r, a + 1); '
               'else if (match(r, ":[^:/]*$")) print substr(r, 1, RSTART - 1), substr(r, RSTART + 1), "<none>" } }')
    return f"printf '%s\\n' \"${VAR}\" | awk {shlex.quote(program)}"
