"""Facts about the stack directory, its containers and the published port."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field

from typing_extensions import override

from pyinfra.api import FactBase

from ..layout import HostLayout, container_name
from . import inspected
from .recorded import INPUTS_DIGEST, inputs_read, recorded


@dataclass
class FileState:
    kind: str  # "f" file, "d" directory
    mode: int
    uid: int
    gid: int
    sha256: str | None = None


class StackFiles(FactBase[dict[str, FileState]]):
    """
    Returns every file and directory in the stack directory (two levels deep), in one round trip:

    .. code:: python

        {
            "/opt/ollama-gate/compose.yml": FileState("f", 0o644, 0, 0, "3f2a..."),
            "/opt/ollama-gate/auth": FileState("d", 0o750, 0, 101),
        }
    """

    default = dict

    @override
    def command(self, stack_dir: str) -> str:
        d = shlex.quote(stack_dir)
        return (
            f"if [ -d {d} ]; then "
            f"find {d} -maxdepth 2 \\( -type f -o -type d \\) -printf '%y %m %U %G %p\\n'; "
            f"find {d} -maxdepth 2 -type f -exec sha256sum {{}} +; fi || true"
        )

    @override
    def process(self, output: list[str]) -> dict[str, FileState]:
        files: dict[str, FileState] = {}
        sums: dict[str, str] = {}
        for line in output:
            stat = re.match(r"^([fd]) ([0-7]+) (\d+) (\d+) (/.*)$", line)
            if stat:
                kind, mode, uid, gid, path = stat.groups()
                files[path] = FileState(kind, int(mode, 8), int(uid), int(gid))
                continue
            digest = re.match(r"^([0-9a-f]{64})  (/.*)$", line)
            if digest:
                sums[digest.group(2)] = digest.group(1)
        for path, sha in sums.items():
            if path in files:
                files[path].sha256 = sha
        return files


class CredentialFileContents(FactBase[str | None]):
    """
    Returns the text of a credential file (hashes or digests only, never a secret), or None.
    The deploy keeps .htpasswd lines whose hash still verifies, so reruns change nothing.
    """

    @override
    def command(self, path: str) -> str:
        p = shlex.quote(path)
        return f"if [ -f {p} ]; then cat {p}; else echo '__ABSENT__'; fi"

    @override
    def process(self, output: list[str]) -> str | None:
        if output == ["__ABSENT__"]:
            return None
        return "".join(line + "\n" for line in output)


class CredentialNames(FactBase[dict[str, int | None] | None]):
    """
    Returns the names in a credential file, with the expiry (Unix seconds) a bearer key line
    carries, or None when the file is absent. Only names and expiries leave the host,
    never a hash: the verification shows what the host accepts beside what is wanted.

    .. code:: python

        {"alice": None, "ci-runner": 1801267200}
    """

    @override
    def command(self, path: str) -> str:
        # "file" first: an empty file is an answer too ({}), not a missing one (None).
        p = shlex.quote(path)
        return (f"if [ -f {p} ]; then echo file; awk -F: '/^[^#]/ && NF >= 2 {{print \"name\", $1, $3}}' "
                f"{p}; else echo '__ABSENT__'; fi")

    @override
    def process(self, output: list[str]) -> dict[str, int | None] | None:
        if output == ["__ABSENT__"] or "file" not in output:
            return None
        names: dict[str, int | None] = {}
        for line in output:
            parts = line.split()
            if len(parts) >= 2 and parts[0] == "name":
                names[parts[1]] = int(parts[2]) if len(parts) > 2 and parts[2].isdigit() else None
        return names


@dataclass
class StackState:
    # service -> (state, config hash label) of the project's containers
    containers: dict[str, tuple[str, str]] = field(default_factory=dict)
    # service -> config hash compose computes from the current compose file
    wanted_hashes: dict[str, str] = field(default_factory=dict)
    # who listens on the published port: "" when nobody, else ss's process column
    port_listener: str | None = None
    # host ports the project's proxy container publishes now
    published: list = field(default_factory=list)



def stack_up_to_date(stack: StackState) -> bool:
    """Every service of the compose file runs with the configuration the file describes."""
    if not stack.wanted_hashes:
        return False
    return all(
        tuple(stack.containers.get(svc, ("", ""))) == ("running", wanted)
        for svc, wanted in stack.wanted_hashes.items()
    )


@dataclass
class PortHolding:
    """Who holds a port: whatever listens on it, and the ports this stack's proxy publishes."""

    # ss's process column of whatever listens ("" when nothing does)
    port_listener: str = ""
    # host ports the project's proxy container publishes now
    published: list = field(default_factory=list)


class PortHolders(FactBase[PortHolding]):
    """
    Returns which host ports the project's proxy publishes now and, when the port is not one
    of them, who listens on it (the preflight's question, without asking Compose for
    hashes; a port the proxy publishes is the stack's own, whoever listens for it).

    .. code:: python

        PortHolding(port_listener='users:(("sshd",pid=82,fd=6))', published=[8880])
    """

    default = PortHolding

    @override
    def command(self, project: str, port: int) -> str:
        return self._command(project, port, shared=False)

    def shared_command(self, project: str, port: int) -> str:
        """The command within HostState: its one inspect of the stack's containers
        (facts/inspected.py) answers instead of `docker port`."""
        return self._command(project, port, shared=True)

    def _command(self, project: str, port: int, shared: bool) -> str:
        proxy = container_name(project, "proxy")
        # Each published port printed; the awk's status says whether `port` is one of them.
        ours = f"n = split(p, a, \":\"); if (a[n] == \"{int(port)}\") ours = 1"
        published = (inspected.fields(proxy, 'for (i = 4; i <= NF; i++) if (sub(/^published=/, "", $i)) '
                                             f'{{ print "published " $i; p = $i; {ours} }}', success="ours")
                     if shared else
                     "command -v docker >/dev/null 2>&1 && "
                     f"docker port {shlex.quote(proxy)} 2>/dev/null | awk "
                     + shlex.quote(f'{{ print "published " $0; p = $NF; {ours} }} END {{ exit !ours }}'))
        # Whatever listens is asked only when the proxy does not publish the port.
        return f"if ! {{ {published}; }}; then {_LISTEN.format(port=port, port_hex=f'{port:04X}')}; fi; true"

    @override
    def process(self, output: list[str]) -> PortHolding:
        stack = _parse_stack(output)
        return PortHolding(port_listener=stack.port_listener or "", published=stack.published)


# What listens on a port: ss where it exists, else /proc/net/tcp (state 0A = LISTEN).
_LISTEN = (
    "if command -v ss >/dev/null 2>&1; then "
    "ss -Htlnp 'sport = :{port}' | sed 's/^/listen /'; "
    "else grep -qi ':{port_hex} [0-9A-F:]* 0A' /proc/net/tcp /proc/net/tcp6 2>/dev/null "
    "&& echo 'listen unknown process'; fi; true"
)


def _parse_stack(output: list[str]) -> StackState:
    state = StackState(port_listener="")
    listeners = []
    for line in output:
        kind, _, rest = line.partition(" ")
        parts = rest.split()
        if kind == "container" and len(parts) >= 2:
            state.containers[parts[0]] = (parts[1], parts[2] if len(parts) > 2 else "")
        elif kind == "wanted" and len(parts) == 2:
            state.wanted_hashes[parts[0]] = parts[1]
        elif kind == "published" and parts:
            # "80/tcp -> 0.0.0.0:8880"
            port = parts[-1].rsplit(":", 1)[-1]
            if port.isdigit() and int(port) not in state.published:
                state.published.append(int(port))
        elif kind == "listen":
            listeners.append(parts[-1] if parts and parts[-1].startswith("users:") else rest.strip())
    state.port_listener = " ".join(listeners)
    return state


class ComposeStack(FactBase[StackState]):
    """
    Returns the Compose project's containers and the configuration hashes the current compose
    file asks for (the same comparison `docker compose up` makes before recreating).
    Absent Docker gives an empty state.

    .. code:: python

        StackState(containers={"ollama": ("running", "ab12..")}, wanted_hashes={"ollama": "ab12.."})
    """

    default = StackState

    @override
    def command(self, stack_dir: str, project: str) -> str:
        return self._command(stack_dir, project, shared=False)

    def shared_command(self, stack_dir: str, project: str) -> str:
        """The command within HostState: its one inspect of the stack's containers
        (facts/inspected.py) lists them instead of `docker ps`, and its prelude has set
        ``$og_inputs`` (facts/recorded.py)."""
        return self._command(stack_dir, project, shared=True)

    def _command(self, stack_dir: str, project: str, shared: bool) -> str:
        compose_file = shlex.quote(HostLayout(stack_dir, project).compose_file)
        d = shlex.quote(stack_dir)
        # The hashes are a pure function of the compose file and what Compose reads with it
        # (the plugin, <project dir>/.env, COMPOSE_* variables; the file names no env_file):
        # recorded on the host while those are the same (facts/recorded.py).
        wanted = recorded(f"docker compose --project-directory {d} -f {compose_file} config --hash '*' 2>/dev/null",
                          f"echo {INPUTS_DIGEST}; echo {d} {compose_file}; cat {compose_file} {d}/.env",
                          f"{stack_dir}.compose-config-hash")
        listed = (inspected.of_project(project, 'sub(/^service=/, "", $5); sub(/^hash=/, "", $6); '
                                                'print "container", $5, $2, $6') if shared else
                  f"docker ps -a --filter {shlex.quote('label=com.docker.compose.project=' + project)} --format "
                  "'container {{.Label \"com.docker.compose.service\"}} {{.State}} "
                  "{{.Label \"com.docker.compose.config-hash\"}}' 2>/dev/null")
        return (
            "if command -v docker >/dev/null 2>&1; then "
            f"{'' if shared else inputs_read() + '; '}{listed}; "
            f"if [ -f {compose_file} ]; then {{ {wanted}; }} | sed 's/^/wanted /'; fi; fi; true"
        )

    @override
    def process(self, output: list[str]) -> StackState:
        return _parse_stack(output)
