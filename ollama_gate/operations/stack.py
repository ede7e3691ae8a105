"""Operations for the stack directory and the Compose project: files, up, proxy reload."""

from __future__ import annotations

import shlex
from io import StringIO
from typing import Sequence

from pyinfra import host, logger, state
from pyinfra.api import FileUploadCommand, operation
from pyinfra.api.operation import OperationMeta
from pyinfra.api.output import format_text
from pyinfra.api.util import get_file_sha256
from pyinfra.facts.files import FileContents
from pyinfra.operations.util.files import generate_color_diff

from ..facts.stack import ComposeStack, PortState, StackFiles, stack_up_to_date
from .util import fail_host


def _changed(ops: Sequence[OperationMeta]) -> bool:
    # `changed` is will_change while preparing (dry runs) and did_change once executed.
    return any(op.changed for op in ops)


@operation()
def directory(path: str, stack_dir: str, mode: int = 0o755, gid: int = 0):
    """
    Ensure a directory of the stack exists, owned by root and group ``gid`` (numeric, as
    the proxy container's worker group has no name on the host).

    + path: the directory
    + stack_dir: the stack directory (the fact is read once for all of it)
    + mode: permission bits
    + gid: numeric group

    **Example:**

    .. code:: python

        stack.directory(name="Ensure the auth directory exists.", path="/opt/ollama-gate/auth",
                        stack_dir="/opt/ollama-gate", mode=0o750, gid=101)
    """
    current = host.get_fact(StackFiles, stack_dir=stack_dir).get(path)
    if current is None:
        yield f"mkdir -p {shlex.quote(path)}"
    elif current.kind != "d":
        yield from fail_host(f"{path} exists and is not a directory; move it away and rerun")
        return
    if current is None or current.uid != 0 or current.gid != gid:
        yield f"chown 0:{gid} {shlex.quote(path)}"
    if current is None or current.mode != mode:
        yield f"chmod {mode:o} {shlex.quote(path)}"
    if current is not None and (current.uid, current.gid, current.mode) == (0, gid, mode):
        host.noop(f"directory {path} is already as wanted")


@operation()
def file(path: str, content: str, stack_dir: str, mode: int = 0o644, gid: int = 0,
         sensitive: bool = False, keep_previous: bool = False):
    """
    Ensure a file of the stack has exactly ``content``, root-owned with group ``gid``.

    + path: the file
    + content: the wanted text (rendered locally)
    + stack_dir: the stack directory (the fact is read once for all of it)
    + mode: permission bits
    + gid: numeric group
    + sensitive: never show the content, not even with --diff (credential files)
    + keep_previous: copy the current file to ``<path>.previous`` before replacing it,
      so a config that fails ``nginx -t`` can be put back (see ``reload_proxy``)

    **Example:**

    .. code:: python

        stack.file(name="Write the compose file.", path="/opt/ollama-gate/compose.yml",
                   content=text, stack_dir="/opt/ollama-gate")
    """
    current = host.get_fact(StackFiles, stack_dir=stack_dir).get(path)
    if current is not None and current.kind != "f":
        yield from fail_host(f"{path} exists and is not a regular file; move it away and rerun")
        return
    wanted_sha = get_file_sha256(StringIO(content))
    quoted = shlex.quote(path)

    if current is None or current.sha256 != wanted_sha:
        if state.config.DIFF:
            verb = "create" if current is None else "modify"
            host.log(f"Will {verb} {format_text(path, bold=True)}", logger.info)
            if sensitive:
                logger.info("  (credential file: contents not shown)")
            else:
                old = host.get_fact(FileContents, path=path) if current is not None else None
                for line in generate_color_diff([x + "\n" for x in old or []], content.splitlines(True)):
                    logger.info("  %s", line)
        if keep_previous and current is not None:
            yield f"cp -p {quoted} {quoted}.previous"
        # Upload beside the file and rename over it: readers (nginx on every request, the
        # Lua key cache) see the old file or the new one, never a half-written one.
        staged = f"{path}.ollama-gate-new"
        yield FileUploadCommand(StringIO(content), staged, remote_temp_filename=host.get_temp_filename(staged))
        yield (f"chown 0:{gid} {shlex.quote(staged)} && chmod {mode:o} {shlex.quote(staged)} "
               f"&& mv -fT {shlex.quote(staged)} {quoted}")
        return

    if (current.uid, current.gid, current.mode) != (0, gid, mode):
        yield f"chown 0:{gid} {quoted} && chmod {mode:o} {quoted}"
    else:
        host.noop(f"{path} is already up to date")


@operation()
def absent_files(paths: Sequence[str], stack_dir: str):
    """
    Remove stack files that the current settings no longer use (the other mode's
    credential file, a TLS directory after TLS was turned off).

    + paths: files that must not exist
    + stack_dir: the stack directory
    """
    files = host.get_fact(StackFiles, stack_dir=stack_dir)
    present = [p for p in paths if p in files]
    if not present:
        host.noop("no stale files")
        return
    yield "rm -rf " + " ".join(shlex.quote(p) for p in present)


def unexpected_files(stack_dir: str, subdir: str, wanted) -> list[str]:
    """Names of files in ``stack_dir/subdir`` that are not in ``wanted`` (left by an older
    version or another mode); ``.previous`` backups are handled by ``reload_proxy``."""
    prefix = f"{stack_dir}/{subdir}/"
    files = host.get_fact(StackFiles, stack_dir=stack_dir)
    return sorted(
        p[len(prefix):] for p, f in files.items()
        if f.kind == "f" and p.startswith(prefix) and p[len(prefix):] not in wanted
        and not p.endswith(".previous")
    )


@operation()
def up(stack_dir: str, project: str, changed_by: Sequence[OperationMeta] = ()):
    """
    Bring the Compose project up when its file or images changed, or when its containers
    are not running with the configuration the file describes.

    + stack_dir: directory holding compose.yml
    + project: Compose project name (for the fact)
    + changed_by: operations whose change requires `docker compose up -d`

    **Example:**

    .. code:: python

        stack.up(name="Start the Compose stack.", stack_dir="/opt/ollama-gate",
                 project="ollama-gate", changed_by=[compose_file])
    """
    stack = host.get_fact(ComposeStack, stack_dir=stack_dir, project=project)
    if not _changed(changed_by) and stack_up_to_date(stack):
        host.noop("the Compose stack already runs as configured")
        return
    d = shlex.quote(stack_dir)
    # --wait: return only once Ollama is healthy and the proxy runs, or fail loudly.
    yield (f"docker compose --project-directory {d} -f {d}/compose.yml up -d "
           "--remove-orphans --wait --wait-timeout 300")


@operation()
def reload_proxy(container: str, conf_dir: str, changed_by: Sequence[OperationMeta] = ()):
    """
    Reload nginx in place after its config changed: ``nginx -t`` first; if the new
    config fails, the previous files are put back and the run fails, so the running
    proxy keeps serving with the config it has.

    + container: the proxy container
    + conf_dir: the host directory mounted at /etc/nginx/conf.d
    + changed_by: the config file operations

    **Example:**

    .. code:: python

        stack.reload_proxy(name="Reload the proxy.", container="ollama-gate-proxy",
                           conf_dir="/opt/ollama-gate/proxy", changed_by=[conf])
    """
    if not _changed(changed_by):
        host.noop("the proxy config did not change")
        return
    c = shlex.quote(container)
    d = shlex.quote(conf_dir)
    yield (
        f"if ! docker exec {c} nginx -t -q; then "
        f"for f in {d}/*.previous; do [ -e \"$f\" ] && mv -f \"$f\" \"${{f%.previous}}\"; done; "
        f"echo 'the new proxy config failed nginx -t: previous config restored, proxy not reloaded' >&2; "
        "exit 1; fi; "
        f"rm -f {d}/*.previous; docker exec {c} nginx -s reload"
    )


@operation()
def preflight_port(stack_dir: str, project: str, port: int, bind: str):
    """
    Stop before changing anything if the published port is taken by something that is
    not this stack's proxy.

    + stack_dir, project: the stack
    + port, bind: the published address
    """
    stack = host.get_fact(PortState, project=project, port=port)
    ours = port in stack.published  # this stack's proxy already publishes it
    if stack.port_listener and not ours:
        yield from fail_host(
            f"proxy_port: port {port} on {bind} is already in use by {stack.port_listener}; "
            "stop that service or choose another proxy_port")
        return
    host.noop(f"port {port} is free or ours")
