"""Facts about the host's system: which of a few packages are installed, a few files' digests, its users."""

from __future__ import annotations

import shlex

from typing_extensions import override

from pyinfra.api import FactBase


class InstalledPackages(FactBase[list]):
    """
    Returns which of the given Debian packages are installed, asking dpkg about those names only
    (pyinfra's ``DebPackages`` lists every package of the system, a few hundred lines).

    + packages: package names

    .. code:: python

        ["ca-certificates", "curl"]
    """

    default = list

    @override
    def command(self, packages: list) -> str:
        if not packages:
            return "true"
        names = " ".join(shlex.quote(p) for p in sorted(set(packages)))
        # One line per known name: "<name> <status abbreviation>"; "ii" is installed.
        return f"dpkg-query -W -f='${{Package}} ${{db:Status-Abbrev}}\\n' {names} 2>/dev/null || true"

    @override
    def process(self, output: list[str]) -> list:
        installed = set()
        for line in output:
            parts = line.split()
            if len(parts) >= 2 and parts[1].startswith("ii"):
                installed.add(parts[0].split(":")[0])
        return sorted(installed)


class FileDigests(FactBase[dict]):
    """
    Returns the SHA-256 of each given path that is a file, ``"directory"`` for a directory; absent
    paths are left out.

    + paths: absolute paths (checked settings or constants: no quotes, no spaces)

    .. code:: python

        {"/etc/apt/keyrings": "directory", "/etc/apt/sources.list.d/docker.sources": "4f2a..."}
    """

    default = dict

    @override
    def command(self, paths: list) -> str:
        if not paths:
            return "true"
        quoted = " ".join(shlex.quote(p) for p in paths)
        return (f"for p in {quoted}; do if [ -d \"$p\" ]; then echo \"directory $p\"; "
                "elif [ -f \"$p\" ]; then sha256sum \"$p\"; fi; done; true")

    @override
    def process(self, output: list[str]) -> dict:
        digests = {}
        for line in output:
            value, _, path = line.partition(" ")
            path = path.strip()
            if path:
                digests[path] = value
        return digests


class MissingUsers(FactBase[list]):
    """
    Returns the names among ``users`` that the host has no account for (``getent passwd``).

    + users: user names

    .. code:: python

        ["nosuchuser"]
    """

    default = list

    @override
    def command(self, users: list) -> str:
        names = " ".join(shlex.quote(u) for u in users) or "''"
        # Every name is answered, present or not: absence is data.
        return f"for u in {names}; do getent passwd \"$u\" >/dev/null || echo \"missing $u\"; done; true"

    @override
    def process(self, output: list[str]) -> list[str]:
        return [line.split(" ", 1)[1] for line in output if line.startswith("missing ")]
