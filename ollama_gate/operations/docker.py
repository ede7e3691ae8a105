"""Install Docker Engine with the Compose v2 plugin, keep it running, configure it."""

from __future__ import annotations

import hashlib
import json
import shlex
from dataclasses import dataclass
from io import StringIO

from pyinfra import host
from pyinfra.api import operation
from pyinfra.operations import apt, files, systemd

from ollama_gate.facts.docker import DockerSetup
from ollama_gate.facts.system import FileDigests
from ollama_gate.operations.snapshot import fresh, known
from ollama_gate.operations.system import packages_with_update
from ollama_gate.operations.util import fail_host
from ollama_gate.settings import DOCKER_INSTALL_METHODS as INSTALL_METHODS  # one definition

OFFICIAL_PACKAGES = (
    "docker-ce",
    "docker-ce-cli",
    "containerd.io",
    "docker-buildx-plugin",
    "docker-compose-plugin",
)
# (os id, version id) -> packages of the distribution that give Docker with Compose v2.
# Debian 12 is absent on purpose: its docker-compose is Compose v1 (1.29).
DISTRO_PACKAGES = {
    ("debian", "13"): ("docker.io", "docker-compose"),
    ("ubuntu", "22.04"): ("docker.io", "docker-compose-v2"),
    ("ubuntu", "24.04"): ("docker.io", "docker-compose-v2"),
}
# Every package the engine operation may check, asked in the run's HostState in one go.
ENGINE_PACKAGES = tuple(sorted({*OFFICIAL_PACKAGES, *(p for ps in DISTRO_PACKAGES.values() for p in ps)}))
OFFICIAL_SYSTEMS = (("debian", "12"), ("debian", "13"), ("ubuntu", "22.04"), ("ubuntu", "24.04"))

KEYRING_DIR = "/etc/apt/keyrings"
KEYRING = "/etc/apt/keyrings/docker.asc"
SOURCES_FILE = "/etc/apt/sources.list.d/docker.sources"
DAEMON_JSON = "/etc/docker/daemon.json"
SERVICE = "docker.service"
# Files of the official method's apt source (read in the run's HostState).
REPOSITORY_PATHS = (KEYRING_DIR, KEYRING, SOURCES_FILE)


class DockerPlanError(Exception):
    """The host cannot get Docker the way docker_install_method asks (``engine`` fails the
    host with its message through ``fail_host``)."""


@dataclass(frozen=True)
class EnginePlan:
    """How the engine gets onto a host."""

    method: str
    packages: tuple = ()
    repository: str | None = None  # Docker's apt repository URI (official only)
    suite: str | None = None
    architecture: str | None = None


def _system_name(os_info) -> str:
    os_id = os_info.get("os_id") or "an unknown system"
    version = os_info.get("os_version_id") or ""
    return f"{os_id} {version}".strip()


def engine_plan(os_info, method: str) -> EnginePlan:
    """Decide how to install Docker on a host from its ``DockerSetup`` fact, or refuse.

    Raises ``DockerPlanError`` (a message naming docker_install_method and what to use instead)
    for an unknown method, an unsupported system, Debian 12 with "distro" (Compose v1 only), or
    "none" on a host where ``docker compose version`` does not work.
    """
    if method not in INSTALL_METHODS:
        raise DockerPlanError(
            f"docker_install_method must be one of {', '.join(INSTALL_METHODS)}, not {method!r}.",
        )

    if method == "none":
        if not os_info.get("docker"):
            raise DockerPlanError(
                "docker_install_method='none' but the docker command is missing on this host: "
                "install Docker Engine with the Compose v2 plugin first, or set "
                "docker_install_method to 'official' or 'distro'.",
            )
        if not os_info.get("compose"):
            raise DockerPlanError(
                "docker_install_method='none' but `docker compose version` fails on this host: "
                "install the Compose v2 plugin (docker-compose-plugin), or set "
                "docker_install_method to 'official' or 'distro'.",
            )
        return EnginePlan(method="none")

    system = (os_info.get("os_id"), os_info.get("os_version_id"))

    if method == "distro":
        if system == ("debian", "12"):
            raise DockerPlanError(
                "docker_install_method='distro' is refused on Debian 12: its docker-compose "
                "package is Compose v1 (1.29), and the stack needs Compose v2 (`docker compose`). "
                "Use docker_install_method='official' (Docker's apt repository) on Debian 12.",
            )
        if system not in DISTRO_PACKAGES:
            raise DockerPlanError(
                f"docker_install_method='distro' supports Debian 13 and Ubuntu 22.04/24.04, "
                f"not {_system_name(os_info)}: install Docker yourself and set "
                "docker_install_method='none'.",
            )
        return EnginePlan(method="distro", packages=DISTRO_PACKAGES[system])

    if system not in OFFICIAL_SYSTEMS:
        raise DockerPlanError(
            f"docker_install_method='official' supports Debian 12/13 and Ubuntu 22.04/24.04, "
            f"not {_system_name(os_info)}: install Docker yourself and set "
            "docker_install_method='none'.",
        )
    if not os_info.get("os_codename") or not os_info.get("arch"):
        raise DockerPlanError(
            f"docker_install_method='official' needs the release codename and the dpkg "
            f"architecture of {_system_name(os_info)}, and the host reports none: check "
            "/etc/os-release and dpkg, or set docker_install_method='none'.",
        )
    return EnginePlan(
        method="official",
        packages=OFFICIAL_PACKAGES,
        repository=f"https://download.docker.com/linux/{system[0]}",
        suite=os_info["os_codename"],
        architecture=os_info["arch"],
    )


def docker_sources(plan: EnginePlan) -> str:
    """The deb822 ``docker.sources`` file of an official plan."""
    return (
        "Types: deb\n"
        f"URIs: {plan.repository}\n"
        f"Suites: {plan.suite}\n"
        "Components: stable\n"
        f"Architectures: {plan.architecture}\n"
        f"Signed-By: {KEYRING}\n"
    )


def daemon_json(options: dict) -> str:
    """The ``/etc/docker/daemon.json`` of ``docker_daemon_options``: sorted keys, stable bytes."""
    return json.dumps(options, indent=2, sort_keys=True) + "\n"


@operation()
def engine(method: str = "official"):
    """
    Install Docker Engine with the Compose v2 plugin and keep it started and enabled at boot.

    + method: ``official`` (Docker's apt repository), ``distro`` (the distribution's packages)
      or ``none`` (Docker is managed elsewhere: only check that ``docker compose`` works)

    Supported systems: Debian 12/13 and Ubuntu 22.04/24.04 (``distro``: Debian 13 and Ubuntu).
    Anything else fails the host (``fail_host``) before a command runs, with a message saying
    what to use instead.

    **Example:**

    .. code:: python

        docker.engine(
            name="Ensure Docker Engine and Compose v2 are installed, started and enabled.",
            method="official",
        )
    """

    info = known(DockerSetup)
    try:
        plan = engine_plan(info, method)
    except DockerPlanError as e:
        yield from fail_host(str(e))
        return

    if plan.method == "none":
        host.noop(f"docker is managed elsewhere (docker {info['docker']}, compose {info['compose']})")
        return

    if plan.method == "official":
        # Docker's own instructions, the deb822 way, no apt-key:
        # https://docs.docker.com/engine/install/debian/#install-using-the-repository
        # https://docs.docker.com/engine/install/ubuntu/#install-using-the-repository
        present = known(FileDigests, paths=list(REPOSITORY_PATHS))
        sources_sha = hashlib.sha256(docker_sources(plan).encode()).hexdigest()
        if (present.get(KEYRING_DIR) == "directory" and KEYRING in present
                and present.get(SOURCES_FILE) == sources_sha):
            # Docker's apt source is in place (a rerun): only the packages are checked.
            yield from packages_with_update(plan.packages)
            yield from _service(info)
            return
        yield from packages_with_update(("ca-certificates", "curl"))
        yield from files.directory._inner(path=KEYRING_DIR, mode="755")
        repo_commands = list(
            files.download._inner(src=f"{plan.repository}/gpg", dest=KEYRING, mode="644"),
        )
        repo_commands += list(
            files.put._inner(src=StringIO(docker_sources(plan)), dest=SOURCES_FILE, mode="644"),
        )
        if repo_commands:
            yield from repo_commands
            yield from apt.update._inner()
            yield from apt.packages._inner(packages=list(plan.packages))
        else:
            yield from packages_with_update(plan.packages)
    else:
        yield from packages_with_update(plan.packages)
    yield from _service(info)


def _service(info):
    if info["service_active"] and info["service_enabled"]:
        host.noop(f"docker {info['docker_server']} is already running and enabled")
    else:
        yield from systemd.service._inner(service=SERVICE, running=True, enabled=True)


@operation()
def daemon_options(options: dict | None = None):
    """
    Write ``/etc/docker/daemon.json`` and restart the engine only when the file changed.

    + options: daemon settings (``docker_daemon_options``); empty leaves the file alone

    **Example:**

    .. code:: python

        docker.daemon_options(
            name="Ensure Docker daemon options are set, restarting Docker if they changed.",
            options={"log-driver": "local"},
        )
    """

    if not options:
        host.noop("no docker daemon options to set")
        return

    file_commands = list(
        files.put._inner(src=StringIO(daemon_json(options)), dest=DAEMON_JSON, mode="644"),
    )
    if not file_commands:
        host.noop(f"{DAEMON_JSON} is already up to date")
        return

    # The restart follows the file: only when its content changed (did_change of the put).
    yield from file_commands
    yield from systemd.service._inner(service=SERVICE, running=True, restarted=True)


@operation()
def group_members(users: list[str] | tuple = ()):
    """
    Add users to the ``docker`` group (they keep their other groups).

    Not pyinfra's ``server.user(user, groups=["docker"], append=True)``: that reads the
    ``Users`` fact (every account of the host, another round trip) and, with its default
    ``present=True``, would create a user that does not exist; the docker group's members
    come from the run's one read (``DockerSetup``), and ``usermod -aG`` is what
    ``server.user`` runs too.

    + users: names of existing users (``docker_users``)

    **Example:**

    .. code:: python

        docker.group_members(
            name="Ensure the deploy users are in the docker group.",
            users=["alice"],
        )
    """

    if not users:
        host.noop("no users to add to the docker group")
        return

    members = known(DockerSetup)["docker_group"] or []
    missing = [user for user in users if user not in members]
    if missing:
        # Asked again before changing: installing Docker earlier in this run makes the group.
        members = fresh(DockerSetup)["docker_group"] or []
        missing = [user for user in users if user not in members]
    if not missing:
        host.noop(f"users {', '.join(users)} are already in the docker group")
        return

    for user in missing:
        yield f"usermod -aG docker {shlex.quote(user)}"
