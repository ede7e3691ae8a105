"""Operations for the stack directory and the Compose project: files, up, proxy reload."""

from __future__ import annotations

import shlex
from io import StringIO
from typing import Callable, Mapping, Sequence

from pyinfra import host, logger, state
from pyinfra.api import FileUploadCommand, operation
from pyinfra.api.operation import OperationMeta
from pyinfra.api.output import format_text
from pyinfra.api.util import get_file_sha256
from pyinfra.facts.files import FileContents
from pyinfra.operations.util.files import generate_color_diff

from ..facts.host import LOADED_RECORD, ProxyLoaded, config_digest_command, loaded_is_on_disk
from ..layout import HostLayout
from ..facts.stack import ComposeStack, PortHolders, StackFiles, stack_up_to_date
from . import snapshot
from .snapshot import fresh, known
from .util import ContentUnavailable, fail_host

# The suffixes of files a deploy leaves only while it runs: an upload not yet renamed over
# its file, and the config the proxy had loaded before this run's change (see proxy_loaded).
STAGED = ".ollama-gate-new"
PREVIOUS = ".previous"


def _changed(ops: Sequence[OperationMeta]) -> bool:
    # `changed` is will_change while preparing (dry runs) and did_change once executed.
    return any(op.changed for op in ops)


@operation()
def directory(path: str, stack_dir: str, mode: int = 0o755, gid: int = 0):
    """
    Ensure a directory of the stack exists, owned by root and group ``gid`` (numeric, as
    the proxy container's worker group has no name on the host).

    Not pyinfra's ``files.directory``: that takes a group name and reads a ``Directory``
    fact per path; these directories' state comes from one ``StackFiles`` read.

    + path: the directory
    + stack_dir: the stack directory (the fact is read once for all of it)
    + mode: permission bits
    + gid: numeric group

    **Example:**

    .. code:: python

        stack.directory(name="Ensure the auth directory exists.", path="/opt/ollama-gate/auth",
                        stack_dir="/opt/ollama-gate", mode=0o750, gid=101)
    """
    current = known(StackFiles, stack_dir=stack_dir).get(path)
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
def file(path: str, content: str | Callable[[], str], stack_dir: str, mode: int = 0o644,
         gid: int = 0, sensitive: bool = False, keep_previous: bool = False):
    """
    Ensure a file of the stack has exactly ``content``, root-owned with group ``gid``.

    Not pyinfra's ``files.put``: the group is numeric (a gid of the proxy image, no name on
    the host), the file is replaced by an atomic rename (nginx reads credential files on
    every request and must never see half of one), ``sensitive`` keeps the content out of
    ``--diff`` entirely, and every stack file's state comes from one ``StackFiles`` read
    instead of a ``File`` and ``Sha256File`` fact per file. The diff itself is pyinfra's
    (``FileContents`` and ``generate_color_diff``).

    + path: the file
    + content: the wanted text (rendered locally), or a function giving it, called inside
      the operation; None: the settings do not use this file (nothing to write here)
      (what it reads from the host (the current file, the host's memory) is
      then read with the run's HostState, not while deploy.py is prepared; what it reads
      locally, once earlier operations of the run have made it); a function raising
      ``ContentUnavailable`` fails the host with its message
    + stack_dir: the stack directory (the fact is read once for all of it)
    + mode: permission bits
    + gid: numeric group
    + sensitive: never show the content, not even with --diff (credential files)
    + keep_previous: copy the current file to ``<path>.previous`` before replacing it,
      so a config that fails ``nginx -t`` can be put back (see ``proxy_loaded``)

    **Example:**

    .. code:: python

        stack.file(name="Write the compose file.", path="/opt/ollama-gate/compose.yml",
                   content=text, stack_dir="/opt/ollama-gate")
    """
    current = known(StackFiles, stack_dir=stack_dir).get(path)
    if current is not None and current.kind != "f":
        yield from fail_host(f"{path} exists and is not a regular file; move it away and rerun")
        return
    if callable(content):
        try:
            content = content()
        except ContentUnavailable as e:
            yield from fail_host(str(e))
            return
    if content is None:
        # Called for every host alike so that operation names line up across hosts; the
        # file itself goes with absent_files when a host has one.
        host.noop(f"{path} is not used by these settings")
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
            # An existing .previous is what the proxy loaded before an interrupted run
            # changed the file: it stays the one to restore.
            yield f"[ -e {quoted}{PREVIOUS} ] || cp -p {quoted} {quoted}{PREVIOUS}"
        # Upload beside the file and rename over it: readers (nginx on every request, the
        # Lua key cache) see the old file or the new one, never a half-written one.
        staged = f"{path}{STAGED}"
        yield FileUploadCommand(StringIO(content), staged, remote_temp_filename=host.get_temp_filename(staged))
        yield (f"chown 0:{gid} {shlex.quote(staged)} && chmod {mode:o} {shlex.quote(staged)} "
               f"&& mv -fT {shlex.quote(staged)} {quoted}")
        return

    if (current.uid, current.gid, current.mode) != (0, gid, mode):
        yield f"chown 0:{gid} {quoted} && chmod {mode:o} {quoted}"
    else:
        host.noop(f"{path} is already up to date")


@operation()
def files_absent(paths: Sequence[str], stack_dir: str, only: Mapping[str, Sequence[str]] | None = None):
    """
    Remove stack files that the current settings no longer use (the other mode's
    credential file, a TLS directory after TLS was turned off, files of ``only``'s
    directories that are not listed), and uploads an interrupted run left behind
    (``*.ollama-gate-new``; the run holds the host's lock, so no other run is writing them).

    + paths: files that must not exist
    + stack_dir: the stack directory
    + only: directory of the stack -> the only file names it may hold (``.previous`` files
      are ``proxy_loaded``'s)
    """
    files = known(StackFiles, stack_dir=stack_dir)
    present = [p for p in paths if p in files]
    for directory, wanted in (only or {}).items():
        present += [f"{directory}/{name}" for name in unexpected_files(stack_dir, directory, wanted)]
    present += sorted(p for p, f in files.items() if f.kind == "f" and p.endswith(STAGED) and p not in present)
    if not present:
        host.noop("no stale files")
        return
    yield "rm -rf " + " ".join(shlex.quote(p) for p in present)


def unexpected_files(stack_dir: str, directory: str, wanted) -> list[str]:
    """Names of files in ``directory`` (of the stack) that are not in ``wanted`` (left by an
    older version or another mode); ``.previous`` backups are handled by ``proxy_loaded``."""
    prefix = f"{directory}/"
    files = known(StackFiles, stack_dir=stack_dir)
    return sorted(
        p[len(prefix):] for p, f in files.items()
        if f.kind == "f" and p.startswith(prefix) and p[len(prefix):] not in wanted
        and not p.endswith(PREVIOUS) and not p.endswith(STAGED)
    )


@operation()
def running(stack_dir: str, project: str, changed_by: Sequence[OperationMeta] = (), proxy_container: str = ""):
    """
    Bring the Compose project up when its file or images changed, or when its containers
    are not running with the configuration the file describes; re-create the proxy when
    its bind mounts no longer are the directories on disk (a removed or replaced
    ``auth/``: the container would keep serving the deleted one).

    + stack_dir: directory holding compose.yml
    + project: Compose project name (for the fact)
    + changed_by: operations whose change requires `docker compose up -d`
    + proxy_container: the proxy container, whose mounts are checked (empty: not checked)

    **Example:**

    .. code:: python

        stack.running(name="Start the Compose stack.", stack_dir="/opt/ollama-gate",
                 project="ollama-gate", changed_by=[compose_file])
    """
    stack = known(ComposeStack, stack_dir=stack_dir, project=project)
    if not _changed(changed_by) and not stack_up_to_date(stack):
        # Asked again before acting: Docker may have been installed or started by this run.
        stack = fresh(ComposeStack, stack_dir=stack_dir, project=project)
    stale = known(ProxyLoaded, stack_dir=stack_dir, container=proxy_container).stale_mounts if proxy_container else []
    if not _changed(changed_by) and stack_up_to_date(stack) and not stale:
        host.noop("the Compose stack already runs as configured")
        return
    d = shlex.quote(stack_dir)
    compose = f"docker compose --project-directory {d} -f {shlex.quote(HostLayout(stack_dir, project).compose_file)}"
    if stale:
        if host.state.is_executing:
            host.log(f"the proxy's mounts of {', '.join(stale)} are not the directories on disk "
                     "(removed or replaced): re-creating the proxy")
        # Removed, then made by the `up` below like any missing container (`up
        # --force-recreate --no-deps` would label it with another config hash).
        yield f"{compose} rm -fs proxy"
    # --wait: return only once Ollama is healthy and the proxy runs, or fail loudly.
    yield f"{compose} up -d --remove-orphans --wait --wait-timeout 300 || {{ {_up_judged_by_ps(compose)}; }}"


def _up_judged_by_ps(compose: str) -> str:
    """What runs when ``up --wait`` exits non-zero: compose sometimes does so with every
    container reported Healthy and no message (docker/compose#13069, seen once in six
    upgrade-test runs here). Its failure stands unless every service of the file is
    running and, where it has a healthcheck, healthy; then the run goes on, saying so
    (the endpoint verification at the end still judges the result)."""
    fmt = shlex.quote("{{.Service}} {{.State}} {{.Health}}")
    return (
        "rc=$?; want=$(" + compose + " config --services | LC_ALL=C sort); "
        "have=$(" + compose + f" ps --format {fmt} | "
        "awk '$2 == \"running\" && ($3 == \"\" || $3 == \"healthy\") {print $1}' | LC_ALL=C sort); "
        "if [ -n \"$want\" ] && [ \"$want\" = \"$have\" ]; then "
        "echo \"compose up --wait exited $rc with every service running and healthy; going on\" >&2; "
        "else exit $rc; fi"
    )


@operation()
def proxy_loaded(container: str, conf_dir: str, stack_dir: str, changed_by: Sequence[OperationMeta] = ()):
    """
    Make the running proxy load the config set on disk: ``nginx -t`` first, then a
    reload, then a record of what it loaded (``{stack_dir}/.proxy-loaded``, a digest of
    ``proxy/`` and ``tls/``). The decision follows what the proxy has loaded, not only
    what this run changed: a run killed between writing the config and the reload leaves
    a record that differs from the disk, and the next run reloads. If the new config
    fails ``nginx -t``, the config the proxy had loaded (``*.previous``) is put back and the
    run fails, so the proxy keeps serving with the config it has.

    + container: the proxy container
    + conf_dir: the host directory mounted at /etc/nginx/conf.d
    + stack_dir: the stack directory (the record, and the run's HostState)
    + changed_by: the config file operations, and ``up`` (a re-created Ollama may have a
      new address, which nginx resolves at (re)load)

    **Example:**

    .. code:: python

        stack.proxy_loaded(name="Reload the proxy.", container="ollama-gate-proxy",
                           conf_dir="/opt/ollama-gate/proxy", stack_dir="/opt/ollama-gate",
                           changed_by=[conf])
    """
    runtime = known(ProxyLoaded, stack_dir=stack_dir, container=container)
    if not _changed(changed_by) and loaded_is_on_disk(runtime):
        places = HostLayout(stack_dir, project="")  # paths only: no container is named here
        kept = (conf_dir + "/", places.tls_dir + "/", places.compose_file)
        previous = sorted(p for p in known(StackFiles, stack_dir=stack_dir)
                          if p.startswith(kept) and p.endswith(PREVIOUS))
        if previous:
            # Left by a run interrupted after its reload: the proxy has loaded what is on disk.
            yield "rm -f " + " ".join(shlex.quote(p) for p in previous)
            return
        host.noop("the proxy has loaded the config on disk")
        return
    if not _changed(changed_by) and host.state.is_executing:
        host.log("the proxy has not loaded the config on disk (an interrupted run?): reloading it")
    yield reload_command(container, conf_dir, stack_dir)


# The proxy's workers as the host sees them: children of the container's nginx master
# titled exactly "nginx: worker process" (one told to quit is "... is shutting down" and
# takes no new connection). `nginx -s reload` only signals the master, which then starts
# new workers and tells the old ones to quit; the reload is done when none of the old
# workers takes requests any more. Until then a request could still be served with the
# config before the reload: a gateway's old credential for its backends, say, which the
# backends drop right after its reload.
_WORKERS = ("m=$(docker inspect -f '{{{{.State.Pid}}}}' {container} 2>/dev/null); og_workers() {{ "
            "for p in /proc/[0-9]*; do read -r _ _ _ pp _ < $p/stat 2>/dev/null || continue; "
            "[ \"$pp\" = \"$m\" ] && [ \"$(tr -d '\\000' < $p/cmdline 2>/dev/null)\" = 'nginx: worker process' ] "
            "&& echo ${{p#/proc/}}; done; }}")
# Bounded: 10 s at most (a worker title that never changes must not hold the run).
_OLD_WORKERS_GONE = ("i=0; while [ $i -lt 100 ]; do now=\" $(echo $(og_workers)) \"; left=; "
                     "for p in $old; do case \"$now\" in *\" $p \"*) left=1;; esac; done; "
                     "[ -z \"$left\" ] && break; sleep 0.1; i=$((i+1)); done; true")


def reload_command(container: str, conf_dir: str, stack_dir: str) -> str:
    """Shell: ``nginx -t`` in the running proxy, then reload and record what it loaded; on
    failure put back what this run replaced and say what really failed."""
    c = shlex.quote(container)
    d = shlex.quote(conf_dir)
    record = shlex.quote(f"{stack_dir}/{LOADED_RECORD}")
    places = HostLayout(stack_dir, project="")  # paths only: no container is named here
    t = shlex.quote(places.tls_dir)
    compose_file = shlex.quote(places.compose_file)
    sd = shlex.quote(stack_dir)
    # What this run replaced goes back TOGETHER: the proxy config, the TLS files and the
    # Compose file (a config put back alone could listen where Compose no longer publishes).
    restore = (
        f"for f in {d}/*{PREVIOUS} {t}/*{PREVIOUS}; do [ -e \"$f\" ] && mv -f \"$f\" \"${{f%{PREVIOUS}}}\"; done; "
        f"if [ -e {compose_file}{PREVIOUS} ]; then mv -f {compose_file}{PREVIOUS} {compose_file}; "
        f"docker compose --project-directory {sd} -f {compose_file} up -d --remove-orphans >/dev/null 2>&1; "
        "put=' and Compose file (stack re-created with it)'; fi; "
    )
    return (
        # nginx -t can only run in a running proxy: say so when it is not, never "nginx -t failed".
        f"if [ \"$(docker inspect -f '{{{{.State.Running}}}}/{{{{.State.Restarting}}}}' {c} 2>/dev/null)\" != true/false ]; then "
        f"why=$(docker logs --tail 2 {c} 2>&1 | tr '\\n' ' '); {restore}"
        "echo \"the proxy container is not running (restarting, stopped or missing), so nginx -t could not run; "
        "its last log lines: ${why:-none}; the previous proxy config$put was put back\" >&2; exit 1; fi; "
        f"if ! out=$(docker exec {c} nginx -t 2>&1); then {restore}"
        "echo \"nginx -t refused the new proxy config: $(printf '%s' \"$out\" | grep -m1 -E 'emerg|error|fail'); "
        "the previous config$put was put back, the proxy not reloaded\" >&2; exit 1; fi; "
        f"{_WORKERS.format(container=c)}; old=$(og_workers); "
        f"docker exec {c} nginx -s reload && {{ {_OLD_WORKERS_GONE}; }} && "
        f"rm -f {d}/*{PREVIOUS} {t}/*{PREVIOUS} {compose_file}{PREVIOUS} && "
        f"{config_digest_command(stack_dir)} > {record}.new && mv -f {record}.new {record}"
    )


@operation()
def port_available(stack_dir: str, project: str, port: int, bind: str, setting: str = "proxy_port"):
    """
    Stop before changing anything if another deploy holds this host (the run's lock,
    taken by the HostState read), or if the published port is taken by something that is
    not this stack's proxy.

    + stack_dir, project: the stack
    + port, bind: the published address
    + setting: the setting that asks for the port (named in the refusal)
    """
    run = snapshot.state()
    if "error" in run:
        yield from fail_host(run["error"])
        return
    lock = run.get("lock")
    if lock is not None and lock.get("error"):
        yield from fail_host(f"the run's lock on this host could not be taken: {lock['error']}")
        return
    if lock is not None and not lock["held"]:
        yield from fail_host(
            f"another deploy is running on this host since {lock['since']} (waited {lock['waited']} s "
            "for it to finish); rerun when it has")
        return
    stack = known(PortHolders, project=project, port=port)
    ours = port in stack.published  # this stack's proxy already publishes it
    if stack.port_listener and not ours:
        yield from fail_host(
            f"{setting}: port {port} on {bind} is already in use by {stack.port_listener}; "
            f"stop that service or choose another {setting}")
        return
    host.noop(f"port {port} is free or ours")
