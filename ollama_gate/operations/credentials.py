"""Say which credential names a run changes (names only: never a value or a hash)."""

from __future__ import annotations

import hashlib
from typing import Callable

from pyinfra import host, logger
from pyinfra.api import operation

from ..facts.credentials import CredentialLineDigests
from ..facts.stack import StackFiles
from .snapshot import known


def name_changes(current: dict[str, str], content: str) -> dict[str, list[str]]:
    """``added``/``changed``/``removed`` names between the host's line digests and the
    wanted file ``content``."""
    wanted = {}
    for line in content.splitlines():
        if line.strip() and not line.startswith("#") and ":" in line:
            wanted[line.split(":", 1)[0]] = hashlib.sha256(line.encode("utf-8")).hexdigest()
    return {
        "added": sorted(set(wanted) - set(current)),
        "changed": sorted(n for n in wanted if n in current and current[n] != wanted[n]),
        "removed": sorted(set(current) - set(wanted)),
    }


@operation()
def changes_reported(path: str, content: str | Callable[[], str], stack_dir: str):
    """
    Report which credential names the credential file's update adds, changes or removes (a
    rotation run names the rotated credentials). Changes nothing itself.

    + path: the credential file
    + content: the wanted file (or a function giving it), as given to ``stack.file``
    + stack_dir: the stack directory (its file digests tell whether to look closer)
    """
    if callable(content):
        content = content()
    current = known(StackFiles, stack_dir=stack_dir).get(path)
    wanted_sha = hashlib.sha256(content.encode("utf-8")).hexdigest()
    if current is not None and current.sha256 == wanted_sha:
        host.noop("no credential changed")
        return
    changes = name_changes(host.get_fact(CredentialLineDigests, path=path) if current else {}, content)
    parts = [f"{kind}: {', '.join(names)}" for kind, names in changes.items() if names]
    message = "credentials " + ("; ".join(parts) if parts else "unchanged (file rewritten)")
    if host.state.is_executing:
        logger.info(f"{host.print_prefix}{message}")
    host.noop(message)
    # No command: the file itself is written by stack.file.
    return
    yield  # noqa: unreachable (makes this a generator, as operations are)
