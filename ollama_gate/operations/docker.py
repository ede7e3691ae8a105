"""Install Docker Engine with the Compose v2 plugin, keep it running, configure it."""

from __future__ import annotations

import hashlib
import json
import shlex
from dataclasses import dataclass
from io import StringIO

from pyinfra import host
from pyinfra.api import FileUploadCommand, operation
from pyinfra.operations import apt, files

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
# The file before this run changed it, until the engine is back up with the new one.
DAEMON_JSON_PREVIOUS = "/etc/docker/daemon.json.ollama-gate-previous"
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
    Install Docker Engine with the Compose v2 plugin and enable it at boot (``daemon`` starts it).

    + method: ``official`` (Docker's apt repository), ``distro`` (the distribution's packages)
      or ``none`` (Docker is managed elsewhere: only check that ``docker compose`` works)

    Supported systems: Debian 12/13 and Ubuntu 22.04/24.04 (``distro``: Debian 13 and Ubuntu).
    Anything else fails the host (``fail_host``) before a command runs, with a message saying
    what to use instead.

    **Example:**

    .. code:: python

        docker.engine(
            name="Ensure Docker Engine and Compose v2 are installed and enabled.",
            method="official",
        )
    """

    info = known(DockerSetup)
    if not info:
        yield from fail_host("could not read the host's operating system and Docker setup "
                             "(/etc/os-release, dpkg, docker); see the output above")
        return
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
    # Started by ``daemon``, after /etc/docker/daemon.json is right: an engine started with a
    # bad file stays down, and then nothing after this could repair the file.
    if info["service_enabled"]:
        host.noop(f"docker {info['docker'] or ''} is already installed and enabled at boot".replace("  ", " "))
    else:
        yield f"systemctl enable {SERVICE}"


def _restart_or_roll_back() -> str:
    """Shell: (re)start the engine; if it does not come up, put the previous daemon.json
    back (or remove the new one), start it again, and fail saying why."""
    d, prev = DAEMON_JSON, DAEMON_JSON_PREVIOUS
    return (
        # A unit that failed often is refused by systemd's start limit until reset.
        f"systemctl reset-failed {SERVICE} docker.socket 2>/dev/null; "
        f"if systemctl restart {SERVICE}; then rm -f {prev}; else "
        f"why=$(journalctl -u {SERVICE} -n 30 --no-pager -o cat 2>/dev/null "
        "| grep -i -E 'unable|invalid|error|failed|directive' | tail -n 2 | tr '\\n' ' '); "
        f"if [ -e {prev} ]; then mv -f {prev} {d}; else rm -f {d}; fi; "
        f"systemctl reset-failed {SERVICE} docker.socket 2>/dev/null; systemctl restart {SERVICE}; "
        "echo \"docker_daemon_options: Docker did not start with the new /etc/docker/daemon.json"
        " (${why:-see journalctl -u docker.service}); the previous file was put back and Docker"
        " restarted with it\" >&2; exit 1; fi"
    )


def _start_or_say_why() -> str:
    """Shell: start an engine that is down (clearing the start limit first), or fail with
    the journal's reason."""
    return (
        f"systemctl reset-failed {SERVICE} docker.socket 2>/dev/null; "
        f"systemctl start {SERVICE} || {{ why=$(journalctl -u {SERVICE} -n 30 --no-pager -o cat "
        "2>/dev/null | grep -i -E 'unable|invalid|error|failed|directive' | tail -n 2 | tr '\\n' ' '); "
        "echo \"Docker does not start: ${why:-see journalctl -u docker.service}\" >&2; exit 1; }"
    )


def _validate(staged: str) -> str:
    """Shell: refuse a staged daemon.json that dockerd refuses (Docker 23+ has --validate;
    older engines skip this, and a file they cannot start with is rolled back instead)."""
    s = shlex.quote(staged)
    return (
        "if dockerd --help 2>&1 | grep -q -- '--validate'; then "
        f"if ! out=$(dockerd --validate --config-file {s} 2>&1); then rm -f {s}; "
        "echo \"docker_daemon_options: dockerd refuses these options: $out; "
        f"{DAEMON_JSON} and the running engine were left as they were\" >&2; exit 1; fi; fi"
    )


@operation()
def daemon(options: dict | None = None, manage_file: bool = True):
    """
    Ensure the Docker engine runs with ``docker_daemon_options`` in ``/etc/docker/daemon.json``.

    + options: daemon settings; ``{}`` removes the file (the engine's defaults)
    + manage_file: False leaves the file alone when ``options`` is empty
      (``docker_install_method = "none"``: the engine is managed elsewhere)

    Options are checked with ``dockerd --validate`` (Docker 23+) before they replace the
    file, so a bad option never reaches the engine. The file is written before the engine
    is started, so a rerun repairs an engine that a bad file keeps down. The engine
    restarts only when the file changed; if it does not come back, the previous file is
    put back and the host fails with the journal's reason. systemd's start limit is
    cleared before every (re)start.

    **Example:**

    .. code:: python

        docker.daemon(
            name="Ensure Docker runs with the daemon options.",
            options={"log-driver": "local"},
        )
    """

    info = known(DockerSetup)
    if _daemon_commands(info, options, manage_file)[0]:
        # Asked again before acting: the engine operation may have installed or started
        # Docker in this run (a no-change rerun never gets here).
        info = fresh(DockerSetup)
    commands, noop = _daemon_commands(info, options, manage_file)
    if noop:
        host.noop(noop)
        return
    yield from commands


def _daemon_commands(info, options, manage_file) -> tuple[list, str | None]:
    """(commands, no-change message) of ``daemon`` for a DockerSetup answer."""
    current = info.get("daemon_json")
    d, prev = shlex.quote(DAEMON_JSON), shlex.quote(DAEMON_JSON_PREVIOUS)
    commands: list = []
    if options:
        content = daemon_json(options)
        if current != hashlib.sha256(content.encode()).hexdigest():
            staged = f"{DAEMON_JSON}.ollama-gate-new"
            commands += [
                "mkdir -p /etc/docker",
                FileUploadCommand(StringIO(content), staged, remote_temp_filename=host.get_temp_filename(staged)),
                _validate(staged),
                f"if [ -e {d} ]; then cp -p {d} {prev}; else rm -f {prev}; fi; "
                f"chmod 644 {shlex.quote(staged)} && mv -fT {shlex.quote(staged)} {d}",
            ]
    elif current is not None and manage_file:
        commands.append(f"cp -p {d} {prev} && rm -f {d}")

    if commands:
        # restart, not start: a fresh install's package has already started the engine.
        commands.append(_restart_or_roll_back())
    elif not info["service_active"]:
        commands.append(_start_or_say_why())
    else:
        state = f"with {DAEMON_JSON}" if current is not None else f"without {DAEMON_JSON}"
        return [], f"docker is already running {state} as configured"
    return commands, None


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
