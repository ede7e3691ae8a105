"""Facts about a host's Docker engine: the OS it runs on and what is installed."""

from __future__ import annotations

import re

from typing_extensions import override

from pyinfra.api import FactBase

from .recorded import INPUTS_DIGEST, inputs_read, recorded

# One shell command for everything the engine operation decides on: every fact is an SSH round
# trip and is read twice per run (prepare + execute), so a no-change run stays fast.
# Every value is printed even when absent ("key="), so absence is data, not a failure.
DOCKER_HOST_COMMAND = (
    ". /etc/os-release 2>/dev/null; "
    'echo "os_id=$ID"; '
    'echo "os_version_id=$VERSION_ID"; '
    'echo "os_codename=${VERSION_CODENAME:-$UBUNTU_CODENAME}"; '
    'echo "arch=$(dpkg --print-architecture 2>/dev/null)"; '
    # The client's and the plugin's versions, recorded while the binaries (and what else
    # Compose reads) are the same: $og_inputs, their digest (facts/recorded.py).
    f'echo "docker=$({recorded("docker --version 2>/dev/null", INPUTS_DIGEST, "-docker-version", digest=True)})"; '
    f'echo "compose=$({recorded("docker compose version --short 2>/dev/null", INPUTS_DIGEST, "-compose-version", digest=True)})"; '
    # One systemctl for both (what is-active and is-enabled print: ActiveState, UnitFileState).
    "systemctl show -p ActiveState -p UnitFileState docker.service 2>/dev/null "
    "| sed -n 's/^ActiveState=/service_active=/p; s/^UnitFileState=/service_enabled=/p'; "
    'echo "docker_group=$(getent group docker 2>/dev/null)"; '
    # In braces: the redirect's own "cannot open" (no file: the usual case) is not printed.
    "echo \"daemon_json=$({ sha256sum < /etc/docker/daemon.json; } 2>/dev/null | cut -d' ' -f1)\"; "
    'echo "daemon_json_present=$(test -e /etc/docker/daemon.json && echo yes)" || true'
)


def _version(value: str) -> str | None:
    # "Docker version 26.1.5+dfsg1, build a72d7cd" -> "26.1.5+dfsg1"; "v2.26.1" -> "2.26.1"
    value = value.strip()
    if not value or value == "<no value>":
        return None
    match = re.search(r"version\s+v?([^\s,]+)", value)
    if match:
        return match.group(1)
    return value.removeprefix("v")


class DockerSetup(FactBase[dict]):
    """
    Returns what installing and checking Docker needs, gathered in one command.
    Values that are absent on the host are ``None`` (or ``False``).

    .. code:: python

        {
            "os_id": "debian",
            "os_version_id": "13",
            "os_codename": "trixie",
            "arch": "amd64",
            "docker": "26.1.5+dfsg1",          # client version
            "compose": "2.26.1",               # docker compose (v2 plugin) version
            "service_active": True,
            "service_enabled": True,
            "docker_group": ["alice"],         # members, None when there is no docker group
            "daemon_json": "3f2a...",          # sha256 of /etc/docker/daemon.json, None when absent
        }
    """

    @override
    def command(self) -> str:
        return f"{inputs_read()}; {DOCKER_HOST_COMMAND}"

    def shared_command(self) -> str:
        """The command within HostState, whose prelude has set ``$og_inputs``."""
        return DOCKER_HOST_COMMAND

    @override
    def process(self, output) -> dict:
        raw: dict[str, str] = {}
        for line in output:
            key, sep, value = line.partition("=")
            if sep:
                raw[key.strip()] = value.strip()

        group = raw.get("docker_group", "")
        members = None
        if group:
            # "docker:x:995:alice,bob"
            fields = group.split(":")
            members = [m for m in fields[3].split(",") if m] if len(fields) > 3 else []

        return {
            "os_id": raw.get("os_id") or None,
            "os_version_id": raw.get("os_version_id") or None,
            "os_codename": raw.get("os_codename") or None,
            "arch": raw.get("arch") or None,
            "docker": _version(raw.get("docker", "")),
            "compose": _version(raw.get("compose", "")),
            "service_active": raw.get("service_active") == "active",
            "service_enabled": raw.get("service_enabled") == "enabled",
            "docker_group": members,
            # An unreadable file still exists: "" (its digest is unknown, so it is rewritten).
            "daemon_json": (raw.get("daemon_json") or "") if raw.get("daemon_json_present") == "yes" else None,
        }
