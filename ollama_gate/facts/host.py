"""Facts about the host itself: its memory (the stack's settings depend on it), the run's
deploy lock, the proxy's loaded config and mounts, and HostState, every fact a no-change
rerun decides on, in one command."""

from __future__ import annotations

import hashlib
import re
import shlex
from dataclasses import dataclass, field

from typing_extensions import override

from pyinfra.api import FactBase

from ..layout import AUTH_SUBDIR, LOCK_DIR, PROXY_SUBDIR, TLS_SUBDIR
from . import inspected, recorded
from .credentials import CredentialLineDigests
from .docker import DockerSetup
from .http import EndpointProbes
from .images import DockerImageRefs
from .models import OllamaModels
from .stack import ComposeStack, CredentialFileContents, FileState, PortHolders, StackFiles
from .system import FileDigests, InstalledPackages
from .tls import CertbotLineage, Certificate, Fqdn

class MemoryTotal(FactBase[int | None]):
    """
    Returns the host's memory in MB (MemTotal of /proc/meminfo), or None when unknown.
    Read from /proc, not vmstat: minimal hosts lack procps.

    .. code:: python

        15953
    """

    @override
    def command(self) -> str:
        return "awk '/^MemTotal:/ {print $2}' /proc/meminfo 2>/dev/null || true"

    @override
    def process(self, output: list[str]) -> int | None:
        lines = [line.strip() for line in output if line.strip()]
        if not lines or not lines[0].isdigit():
            return None
        return int(lines[0]) // 1024


# The last line of each buffered HostState section: without it, the section was cut short.
BUFFERED_MARK = "#ollama-gate-buffered"
# The record of the proxy config set the running proxy last loaded (nginx -t passed, reloaded).
LOADED_RECORD = ".proxy-loaded"


def lock_path(stack_dir: str) -> str:
    """One lock per stack directory (two stacks on one host do not wait for each other)."""
    return f"{LOCK_DIR}/ollama-gate{stack_dir.replace('/', '_')}.lock"


def config_digest_command(stack_dir: str) -> str:
    """Shell printing one digest of the proxy's config set on disk: what nginx reads at
    (re)load (proxy/, tls/, and the includes in auth/: a gateway's backend credential), not
    the credential files it reads per request. The reload writes the same digest to the
    record once the proxy has loaded that set."""
    d = shlex.quote(stack_dir)
    return (f"(cd {d} 2>/dev/null && {{ find {PROXY_SUBDIR} {TLS_SUBDIR} -maxdepth 1 -type f ! -name '*.previous' "
            f"! -name '*.ollama-gate-new'; find {AUTH_SUBDIR} -maxdepth 1 -type f -name '*.conf'; }} 2>/dev/null "
            "| LC_ALL=C sort | xargs -r sha256sum | sha256sum | cut -c1-64)")


# What a file name must not hold for config_digest to print what the shell prints: sha256sum
# escapes a name with a backslash or a line break (a carriage return too, in newer
# coreutils), xargs splits at blanks and quotes.
_UNREPRODUCIBLE = set(" \t\n\r\\'\"")


def config_digest(files: dict[str, FileState]) -> str:
    """``config_digest_command``'s digest, computed here from StackFiles' answer (which has
    read and hashed every file two levels deep): the same lines (``<sha256>  <path>``,
    paths relative to the stack directory, in C order) hashed the same way, with no
    process on the host. The stack directory is the shortest path of the answer (find
    lists its starting point). "" when the directory is missing (the shell prints nothing
    then) or a name the shell would escape or split is among them (then the proxy counts
    as not having loaded the set on disk: the reload records the shell's digest again)."""
    if not files:
        return ""
    stack_dir = min(files, key=len)
    picked = []
    for path, state in files.items():
        if state.kind != "f" or not path.startswith(stack_dir + "/"):
            continue
        rel = path[len(stack_dir) + 1:]
        sub, _, name = rel.partition("/")
        if not name or "/" in name:
            continue
        if (sub in (PROXY_SUBDIR, TLS_SUBDIR) and not name.endswith((".previous", ".ollama-gate-new"))
                or sub == AUTH_SUBDIR and name.endswith(".conf")):
            if state.sha256 is None or _UNREPRODUCIBLE & set(rel):
                return ""
            picked.append((rel.encode(), state.sha256))
    text = "".join(f"{sha}  {rel.decode()}\n" for rel, sha in sorted(picked))
    return hashlib.sha256(text.encode()).hexdigest()


class HostLock(FactBase[dict]):
    """
    Returns whether this run holds the host's lock, taking it (``flock`` on a file in
    /run/lock) and waiting at most ``wait`` seconds. The lock is held by a small background
    process that lives as long as
    the run's SSH connection (the first ancestor that is not a shell or sudo): it ends
    when the run ends, is interrupted or is killed, so a killed run never leaves a lock.
    A second deploy to the same host waits, then gets who holds it and since when.

    + stack_dir: the stack directory (one lock per stack)
    + wait: seconds to wait for another run to finish

    .. code:: python

        {"held": True}
        {"held": False, "since": "2026-11-27T16:10:03Z from 10.0.0.5", "waited": 120}
    """

    @override
    def command(self, stack_dir: str, wait: int = 120) -> str:
        lock = shlex.quote(lock_path(stack_dir))
        return (
            # The anchor: the process of this SSH connection (sshd-session, sshd), or
            # whatever else runs the commands (the local connector's python). Read with the
            # shell's own `read` (no process per ancestor); a shell's /proc/<pid>/stat is
            # "<pid> (<name without spaces>) <state> <ppid> ...".
            "a=$PPID; while { read -r c < /proc/$a/comm; } 2>/dev/null; do case \"$c\" in "
            "sh|dash|bash|sudo|su|env) read -r _ _ _ a _ < /proc/$a/stat;; *) break;; esac; done; "
            f"[ -d {LOCK_DIR} ] || mkdir -p {LOCK_DIR}; "
            f"info=\"$(date -u +%Y-%m-%dT%H:%M:%SZ) from ${{SSH_CLIENT%% *}}\"; "
            # The holder says "held" on a pipe and closes it: the command substitution ends
            # then (or when flock gave up: nothing said). What else comes on the pipe is why
            # the lock file could not be opened.
            f"r=$( ( flock -w {int(wait)} 9 || exit 75; {{ printf '%s\\n' \"$info\" > {lock}.info; }} 2>/dev/null; "
            "echo held; exec >/dev/null 2>&1; "
            # Held until the anchor ends: GNU tail watches it without a process per second
            # (and lets the lock go within 0.2 s); elsewhere (busybox) a shell loop does.
            "tail --pid=\"$a\" -s 0.2 -f /dev/null 2>/dev/null || "
            "while kill -0 \"$a\" 2>/dev/null; do sleep 1; done "
            f") 2>&1 9>>{lock} </dev/null & ); "
            "case \"$r\" in held) echo 'lock held'; og_held=1;; "
            f"'') echo \"lock busy {int(wait)} $(cat {lock}.info 2>/dev/null)\";; "
            f"*) echo \"lock error cannot take {lock}: $r\";; esac"
        )

    @override
    def process(self, output: list[str]) -> dict:
        for line in output:
            if line == "lock held":
                return {"held": True}
            if line.startswith("lock error "):
                return {"held": False, "error": line[len("lock error "):]}
            m = re.match(r"^lock busy (\d+) ?(.*)$", line)
            if m:
                return {"held": False, "waited": int(m.group(1)), "since": m.group(2).strip() or "unknown"}
        return {"held": False, "waited": 0, "since": "unknown (the lock command gave no answer)"}


@dataclass
class ProxyRuntime:
    # digest of the config set the proxy last loaded ("" when never recorded)
    loaded: str = ""
    # digest of the config set on disk now
    on_disk: str = ""
    # the proxy container's state ("" when there is none)
    state: str = ""
    # container paths whose bind mount no longer is the directory on disk
    stale_mounts: list = field(default_factory=list)


def loaded_is_on_disk(runtime) -> bool:
    """The proxy has loaded the config set that is on disk now."""
    return bool(runtime.loaded) and runtime.loaded == runtime.on_disk


class ProxyLoaded(FactBase[ProxyRuntime]):
    """
    Returns what the running proxy has loaded compared with what is on disk: the digest of the
    config set it last loaded (recorded by the reload) and of the set on disk, and the bind
    mounts that no longer point at the directory on disk (a removed or replaced ``auth/``:
    the container keeps the deleted directory until it is re-created).

    + stack_dir: the stack directory
    + container: the proxy container

    .. code:: python

        ProxyRuntime(loaded="9a9f..", on_disk="9a9f..", state="running", stale_mounts=[])
    """

    default = ProxyRuntime

    @override
    def command(self, stack_dir: str, container: str) -> str:
        return self._command(stack_dir, container, shared=False)

    def shared_command(self, stack_dir: str, container: str) -> str:
        """The command within HostState: its one inspect of the stack's containers
        (facts/inspected.py) answers instead of an inspect of its own (the same words,
        without the ports)."""
        return self._command(stack_dir, container, shared=True)

    def _command(self, stack_dir: str, container: str, shared: bool) -> str:
        record = shlex.quote(f"{stack_dir}/{LOADED_RECORD}")
        c = shlex.quote(container)
        status = (inspected.fields(container, 's = $2 " " $3; for (i = 4; i <= NF; i++) '
                                              'if ($i ~ /^\\//) s = s " " $i; print s') if shared else
                  "docker inspect -f '{{.State.Status}} {{.State.Pid}}{{range .Mounts}}"
                  "{{if eq .Type \"bind\"}} {{.Source}}={{.Destination}}{{end}}{{end}}' "
                  f"{c} 2>/dev/null")
        # Each bind mount inside (as the container's processes see it) and outside (the
        # path now), in one stat; a mount is stale when the two are not the same file.
        compare = ("$1 != \"\" { id[substr($0, index($0, \" \") + 1)] = $1 } "
                   "END { n = split(mounts, m, \" \"); for (i = 1; i <= n; i++) { "
                   "eq = index(m[i], \"=\"); src = substr(m[i], 1, eq - 1); dst = substr(m[i], eq + 1); "
                   "if (id[root dst] != id[src]) print \"stale \" dst } }")
        return (
            f"l=; {{ read -r l < {record}; }} 2>/dev/null; echo \"loaded $l\"; "
            # Within HostState the digest of the set on disk is computed from its files
            # section (config_digest): six processes fewer per read.
            + ("" if shared else f"echo \"disk $( {config_digest_command(stack_dir)} )\"; ")
            + "if command -v docker >/dev/null 2>&1; then "
            f"{status} | {{ read -r st pid mounts; echo \"state $st\"; "
            "if [ \"${pid:-0}\" -gt 0 ] 2>/dev/null && [ -n \"$mounts\" ]; then set --; "
            "for m in $mounts; do set -- \"$@\" \"/proc/$pid/root${m#*=}\" \"${m%%=*}\"; done; "
            "stat -L -c '%d:%i %n' \"$@\" 2>/dev/null | "
            f"awk -v mounts=\"$mounts\" -v root=\"/proc/$pid/root\" {shlex.quote(compare)}; fi; }}; "
            "fi; true"
        )

    @override
    def process(self, output: list[str]) -> ProxyRuntime:
        runtime = ProxyRuntime()
        for line in output:
            key, _, value = line.partition(" ")
            value = value.strip()
            if key == "loaded":
                runtime.loaded = value
            elif key == "disk":
                runtime.on_disk = value
            elif key == "state":
                runtime.state = value
            elif key == "stale" and value:
                runtime.stale_mounts.append(value)
        return runtime


# Facts HostState gathers whose command needs Docker: without it their section is empty
# and they take their default, as pyinfra does for a fact whose command is missing.
_NEEDS_DOCKER = (DockerImageRefs, OllamaModels)
# Facts whose command within HostState reads what its prelude has read once: the one inspect
# of the stack's containers (facts/inspected.py), the digest of Compose's inputs
# (facts/recorded.py).
_SHARED = (ComposeStack, PortHolders, OllamaModels, ProxyLoaded, DockerSetup, DockerImageRefs)
# Likewise for openssl (Certificate's requires_command).
_NEEDS_OPENSSL = (Certificate,)
SECTION_MARK = "__OLLAMA_GATE_SECTION__"


def host_state_parts(stack_dir: str, project: str, port: int, proxy_container: str,
                     ollama_container: str, packages: list | tuple = (), paths: list | tuple = (),
                     credential_file: str = "", lock_wait: int = 120,
                     cert_name: str = "", credential_lines: str = "", tls_cert: str = "",
                     fqdn: bool = False, images: list | tuple = (), probes: list | tuple = (),
                     probes_names_file: str = "") -> list[tuple[str, type, dict]]:
    """(section, fact class, its arguments) of every fact HostState answers, lock first.
    ``cert_name``: certbot's lineage of the stack (asked in every TLS mode: acme keeps it
    valid, the others remove one an earlier acme deploy left). ``credential_lines``: a
    backend's credential file, whose line digests say which service values it accepts.
    ``images``: the references the stack runs; the images section says which of them the
    engine has (the one inspect of the prelude asks about them with the containers).
    ``probes``: the verification's requests (``EndpointProbes``, with the names of
    ``probes_names_file``); their curl config is the read's stdin."""
    parts = [
        ("lock", HostLock, {"stack_dir": stack_dir, "wait": lock_wait}),
        ("docker", DockerSetup, {}),
        ("packages", InstalledPackages, {"packages": list(packages)}),
        ("paths", FileDigests, {"paths": list(paths)}),
        ("port", PortHolders, {"project": project, "port": port}),
        ("files", StackFiles, {"stack_dir": stack_dir}),
        ("compose", ComposeStack, {"stack_dir": stack_dir, "project": project}),
        ("images", DockerImageRefs, {}),
        ("models", OllamaModels, {"container": ollama_container}),
        ("memory", MemoryTotal, {}),
        ("proxy", ProxyLoaded, {"stack_dir": stack_dir, "container": proxy_container}),
    ]
    if cert_name:
        parts.append(("certbot", CertbotLineage, {"cert_name": cert_name}))
    if tls_cert:
        # The proxy's certificate as the TLS operation finds it (it makes it when needed).
        parts.append(("certificate", Certificate, {"path": tls_cert}))
    if fqdn:
        parts.append(("fqdn", Fqdn, {}))
    if credential_file:
        parts.append(("credentials", CredentialFileContents, {"path": credential_file}))
    if credential_lines:
        # A backend: which values its credential file holds (line digests, no hash), so a
        # rotated gateway credential stays accepted until the gateway has switched.
        parts.append(("credential-lines", CredentialLineDigests, {"path": credential_lines}))
    if probes:
        parts.append(("endpoint", EndpointProbes, {"requests": list(probes), "names_file": probes_names_file}))
    return parts


def buffers_printed(sections: list[str]) -> str:
    """Shell (one awk, not three processes per section) printing the buffers ``$t/<section>``
    in order, each after its SECTION_MARK line, without their BUFFERED_MARK; exits 1 naming
    the sections whose buffer does not end with BUFFERED_MARK (a write failed or was cut)."""
    names = " ".join(sections)
    program = (
        "function done_with(f) { if (f != \"\" && last == mark) ok[f] = 1 } "
        "FNR == 1 { done_with(f); f = FILENAME; sub(/.*\\//, \"\", f); print sm \" \" f } "
        "{ last = $0; if ($0 != mark) print } "
        "END { done_with(f); n = split(names, want, \" \"); bad = \"\"; "
        "for (i = 1; i <= n; i++) if (!(want[i] in ok)) bad = bad \" \" want[i]; "
        "if (bad != \"\") { print \"the answers of\" bad \" could not be buffered in \" dir > \"/dev/stderr\"; exit 1 } }"
    )
    files = " ".join(f"$t/{section}" for section in sections)
    q = shlex.quote
    return (f"awk -v mark={q(BUFFERED_MARK)} -v sm={q(SECTION_MARK)} -v names={q(names)} -v dir={q(LOCK_DIR)} "
            f"{q(program)} {files}")


class HostState(FactBase[dict]):
    """
    Returns every fact a deploy decides on, read in ONE command (a round trip each would make a rerun
    over a WAN link slow): the smaller facts' own commands one after the other, each
    section parsed by that fact's own ``process``. The facts that ask Docker about the
    stack's containers and images (ComposeStack, PortHolders, OllamaModels, ProxyLoaded,
    DockerImageRefs) share one ``docker inspect`` (facts/inspected.py) instead of a docker
    call each, and the digest of the proxy's config on disk comes from the files section
    (``config_digest``). The run's lock (``HostLock``) is taken first; when another run
    holds it, nothing else is read (that run may be changing it). With ``probes``, the
    verification's requests (``EndpointProbes``) are one more section, started first; their
    curl config (credentials) is this command's stdin.

    Arguments: those of ``host_state_parts``.

    .. code:: python

        {"lock": {"held": True}, "docker": {...}, "files": {...}, "proxy": ProxyRuntime(...), ...}
    """

    default = dict

    @override
    def command(self, **kwargs) -> str:
        script = []
        parallel = []
        buffered = f"{{ {{ %s; }}%s; echo '{BUFFERED_MARK}'; }} > $t/%s 2>>$t/err & p=\"$p $!\""
        for section, cls, args in host_state_parts(**kwargs):
            command = cls().shared_command(**args) if cls in _SHARED else cls().command(**args)
            if cls in _NEEDS_DOCKER:
                command = f"if command -v docker >/dev/null 2>&1; then {command}; fi"
            if cls in _NEEDS_OPENSSL:
                command = f"if command -v openssl >/dev/null 2>&1; then {command}; fi"
            if cls is HostLock:
                script.append(f"echo '{SECTION_MARK} {section}'; {{ {command}; }}")
                # Another run holds the host: read nothing (it may be changing everything).
                script.append('[ -n "$og_held" ] || exit 0')
                # The other sections run at the same time (most wait on dockerd), printed
                # in order. Only their own PIDs are waited for: the lock's holder lives as
                # long as the run. Their answers are buffered in files beside the lock, not
                # in /tmp: a full /tmp must make a section say why it failed, never read as
                # an empty answer. Each buffer ends with BUFFERED_MARK; one without it (a
                # write failed) fails the read.
                script.append(f"[ -d {LOCK_DIR} ] || mkdir -p {LOCK_DIR}")
                script.append(f"t=$(mktemp -d -p {LOCK_DIR} ollama-gate-state.XXXXXX) || exit 1")
                script.append('p=""')
            elif cls is EndpointProbes:
                # The verification's requests, the longest section (a generation): started
                # first. Their curl reads its config (credentials) from the read's stdin; a
                # section run with & has /dev/null as its stdin, so it takes fd 3, opened
                # for it alone (the lock's holder never has it). No curl yet (a first
                # deploy installs it): no answers, and the verification asks later.
                script.append("exec 3<&0")
                script.append(buffered % (f"if command -v curl >/dev/null 2>&1; then {command}; fi", " <&3", section))
                script.append("exec 3<&-")
                parallel.append((section, None))
            else:
                parallel.append((section, command))
        # One inspect of the stack's containers for the sections that ask about them, and
        # one digest of what Compose reads for the sections that record answers.
        script.append(inspected.read([kwargs["proxy_container"], kwargs["ollama_container"]],
                                     list(kwargs.get("images") or ())))
        script.append(recorded.inputs_read())
        for section, command in parallel:
            if command is not None:
                script.append(buffered % (command, "", section))
        script.append("wait $p")
        script.append(f"{buffers_printed([section for section, _ in parallel])}; s=$?")
        script.append('cat $t/err >&2; rm -rf $t; exit $s')
        return "; ".join(script)

    @override
    def process(self, output: list[str]) -> dict:
        lines: dict[str, list[str]] = {}
        current = None
        for line in output:
            if line.startswith(SECTION_MARK + " "):
                current = line.split(" ", 1)[1].strip()
                lines[current] = []
            elif current is not None:
                lines[current].append(line)
        state = {}
        for section, section_lines in lines.items():
            fact = SECTIONS[section]()
            # As pyinfra does: a fact with no output takes its default.
            state[section] = fact.process(section_lines) if section_lines else fact.default()
        if "proxy" in state and "files" in state:
            state["proxy"].on_disk = config_digest(state["files"])
        return state


SECTIONS = {section: cls for section, cls, _ in host_state_parts("/", "p", 1, "c", "c", credential_file="/f",
                                                                 cert_name="n", credential_lines="/f",
                                                                 tls_cert="/c", fqdn=True, probes=["GET /"])}
