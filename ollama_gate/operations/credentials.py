"""The credential file's changes: which names a run changes (names only: never a value or a
hash), and a backend's final file once its gateway uses a rotated service credential."""

from __future__ import annotations

import hashlib
from typing import Callable

from pyinfra import host, logger
from pyinfra.api import operation

from ..facts.credentials import CredentialLineDigests
from ..facts.stack import StackFiles
from . import stack as stack_ops
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
    changes = name_changes(known(CredentialLineDigests, path=path) if current else {}, content)
    parts = [f"{kind}: {', '.join(names)}" for kind, names in changes.items() if names]
    message = "credentials " + ("; ".join(parts) if parts else "unchanged (file rewritten)")
    if host.state.is_executing:
        logger.info(f"{host.print_prefix}{message}")
    host.noop(message)
    # No command: the file itself is written by stack.file.
    return
    yield  # noqa: unreachable (makes this a generator, as operations are)


def gateway_switched(gateway: str) -> str | None:
    """Why the backend must keep accepting gateway ``gateway``'s previous credential, or None
    when it has switched: the gateway ran this run's operations up to here (its reload
    included) without failing. pyinfra runs each operation on every host before the next,
    so by this operation the gateway's reload is done, or the gateway failed."""
    state = host.state
    if gateway not in {h.name for h in state.activated_hosts}:
        return f"its gateway {gateway} is not in this run"
    if gateway in {h.name for h in state.failed_hosts}:
        return f"its gateway {gateway} failed in this run, before or at its reload"
    return None


@operation()
def previous_dropped(path: str, content: str | Callable[[], str], kept: Callable[[], str | None],
                     gateway: str, stack_dir: str, mode: int = 0o640, gid: int = 0):
    """
    A backend's final credential file, once its gateway sends its rotated service
    credential: the previous value (kept by the credential file's operation while the
    gateway switched) is dropped. Kept while the gateway is not in this run or failed.

    + path: the credential file
    + content: the wanted file, as given to the credential file's ``stack.file``
    + kept: what that operation wrote (None: it kept no previous value; nothing to drop)
    + gateway: the gateway's inventory name
    + stack_dir, mode, gid: as ``stack.file``

    **Example:**

    .. code:: python

        credentials.previous_dropped(name="Write the credential file without the gateway's previous credential.",
                                     path=cred_path, content=text, kept=overlap, gateway="gw",
                                     stack_dir="/opt/ollama-gate", mode=0o640, gid=65534)
    """
    if kept() is None:
        host.noop("no previous credential of the gateway is kept")
        return
    if host.state.is_executing:
        why = gateway_switched(gateway)
        if why is not None:
            logger.warning(f"{host.print_prefix}the previous credential of the gateway stays accepted: {why}; "
                           "the next run drops it")
            host.noop(f"the previous credential stays accepted ({why})")
            return
    yield from stack_ops.file._inner(path=path, content=content, stack_dir=stack_dir, mode=mode, gid=gid,
                                     sensitive=True)
