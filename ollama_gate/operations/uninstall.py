"""Remove a gate from a host (uninstall.py): its containers and network, its directory,
and on request its models volume and images. Docker itself stays."""

from __future__ import annotations

import shlex

from pyinfra import host, logger
from pyinfra.api import operation

from ..facts.host import HostLock
from ..facts.images import DockerImageRefs
from ..facts.uninstall import GateResources
from ..images import normalize_ref
from .util import fail_host


@operation()
def locked(stack_dir: str, wait: int = 120):
    """
    Take the host's deploy lock (the one deploy.py's first read takes) for the rest of the
    run, so an uninstall never removes a stack while a deploy is writing it, nor the other
    way round. Another run holding the host: wait ``wait`` seconds, then fail the host
    before anything is removed, naming since when.

    + stack_dir: the stack directory (one lock per stack)
    + wait: seconds to wait for the other run (``OLLAMA_GATE_LOCK_WAIT``)
    """
    lock = host.get_fact(HostLock, stack_dir=stack_dir, wait=wait)
    if lock.get("error"):
        yield from fail_host(f"the run's lock on this host could not be taken: {lock['error']}")
        return
    if not lock["held"]:
        yield from fail_host(
            f"another run is working on this host since {lock['since']} (waited {lock['waited']} s "
            "for it to finish); rerun the uninstall when it has")
        return
    host.noop("this run holds the host's lock")


@operation()
def containers_absent(project: str, stack_dir: str):
    """
    Stop and remove the Compose project's containers, then its networks.

    + project: the Compose project name (``stack_project``)
    + stack_dir: the stack directory (for the fact)

    **Example:**

    .. code:: python

        uninstall.containers_absent(name="Remove the gate's containers and network.",
                                    project="ollama-gate", stack_dir="/opt/ollama-gate")
    """
    gate = host.get_fact(GateResources, project=project, stack_dir=stack_dir)
    if not gate.containers and not gate.networks:
        host.noop("no container or network of the gate")
        return
    if gate.containers:
        names = " ".join(shlex.quote(c) for c in gate.containers)
        # docker stop: SIGTERM (the proxy's STOPSIGNAL), then SIGKILL after 30 s.
        yield f"docker stop -t 30 {names} >/dev/null && docker rm {names} >/dev/null"
    if gate.networks:
        yield "docker network rm " + " ".join(shlex.quote(n) for n in gate.networks) + " >/dev/null"


@operation()
def models_absent(project: str, stack_dir: str, remove: bool = False):
    """
    Remove the project's volumes (the models) when ``remove``; otherwise keep them and say so.

    + project, stack_dir: as for ``containers_absent``
    + remove: remove the volumes (``uninstall_models``)
    """
    gate = host.get_fact(GateResources, project=project, stack_dir=stack_dir)
    if not gate.volumes:
        host.noop("no models volume")
        return
    if not remove:
        message = (f"keeping the models volume {', '.join(gate.volumes)} "
                   "(--data uninstall_models=True removes it)")
        logger.info(f"{host.print_prefix}{message}")
        host.noop(message)
        return
    yield "docker volume rm " + " ".join(shlex.quote(v) for v in gate.volumes) + " >/dev/null"


@operation()
def directory_absent(project: str, stack_dir: str):
    """
    Remove the stack directory: compose file, proxy config, credential files, TLS files.
    A directory that holds something else than a gate is left alone and the host fails.

    + project, stack_dir: as for ``containers_absent``
    """
    gate = host.get_fact(GateResources, project=project, stack_dir=stack_dir)
    if gate.stack_dir == "absent":
        host.noop(f"{stack_dir} does not exist")
        return
    if gate.stack_dir == "foreign":
        yield from fail_host(f"stack_dir: {stack_dir} holds files but no compose.yml written by "
                             "ollama-gate; not removing it (check stack_dir)")
        return
    yield f"rm -rf {shlex.quote(stack_dir)}"


@operation()
def images_absent(refs: list[str]):
    """
    Remove the stack's images (``uninstall_images``); images other stacks use stay in use
    and make this fail, which is the point.

    + refs: image references (``settings.images``)
    """
    present = set(host.get_fact(DockerImageRefs))
    remove = [ref for ref in refs if normalize_ref(ref) in present or ref in present]
    if not remove:
        host.noop("none of the stack's images is on the host")
        return
    yield "docker image rm " + " ".join(shlex.quote(r) for r in remove) + " >/dev/null"
