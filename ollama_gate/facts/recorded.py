"""Shell for answers the host keeps while what they are computed from is unchanged.

``docker --version`` (a Go program's start, ~15 ms of CPU), ``docker compose version`` and
``docker compose config --hash`` (they start the Compose plugin, a 60 MB Go program:
~0.1-0.2 s of CPU each on a small host, most of a no-change rerun's remote work). Their answers are a pure function of the binaries and, for the hash, of the
compose file and what Compose reads with it. So the answer is recorded in a file
beside the run's lock (/run/lock: a tmpfs, gone at reboot) with a digest of those inputs,
and printed from there while the digest is the same; any change to an input (another
plugin binary, an edited compose file, a .env file, COMPOSE_* variables) runs the command
again. Only a command that succeeded and printed something is recorded.
"""

from __future__ import annotations

import shlex

# Beside the run's lock (facts/host.py LOCK_DIR): a tmpfs, so no record outlives a reboot.
RECORD_DIR = "/run/lock"
# Where `docker compose` finds its plugin (docker/cli's default plugin directories, the
# user's first), and the CLI config that may name more (cliPluginsExtraDirs).
DOCKER_CONFIG = '"${DOCKER_CONFIG:-$HOME/.docker}"'
COMPOSE_PLUGINS = (
    f"{DOCKER_CONFIG}/cli-plugins/docker-compose",
    "/usr/local/lib/docker/cli-plugins/docker-compose",
    "/usr/local/libexec/docker/cli-plugins/docker-compose",
    "/usr/lib/docker/cli-plugins/docker-compose",
    "/usr/libexec/docker/cli-plugins/docker-compose",
)
# The inputs of every Compose answer: which docker CLI and plugin binaries (path, inode,
# size, mtime, ctime: a package upgrade replaces the file), the CLI's config, and the
# COMPOSE_* variables of this session.
COMPOSE_INPUTS = (
    "stat -L -c '%n %i %s %Y %Z' \"$(command -v docker)\" " + " ".join(COMPOSE_PLUGINS) + "; "
    f"cat {DOCKER_CONFIG}/config.json; env | grep '^COMPOSE_' | LC_ALL=C sort"
)


# The digest of COMPOSE_INPUTS, computed once per read: HostState's prelude sets it for
# every section that records a docker or Compose answer (a fact read alone sets its own).
INPUTS_VAR = "og_inputs"
INPUTS_DIGEST = f'"${INPUTS_VAR}"'


def inputs_read() -> str:
    """Shell setting ``$og_inputs`` to the digest of COMPOSE_INPUTS (the docker CLI and
    Compose plugin binaries, the CLI config, the COMPOSE_* variables)."""
    return f"{INPUTS_VAR}=$( {{ {COMPOSE_INPUTS}; }} 2>/dev/null | sha256sum)"


def record_path(name: str) -> str:
    """The record's file: /run/lock/ollama-gate<name with / as _>.answer."""
    return f"{RECORD_DIR}/ollama-gate{name.replace('/', '_')}.answer"


def recorded(command: str, inputs: str, name: str, *, digest: bool = False) -> str:
    """Shell printing what ``command`` prints, from the record ``name`` while the output of
    ``inputs`` (shell printing every input of the answer) has the digest recorded with it;
    otherwise runs ``command`` and records its output if it succeeded and printed something.
    With ``digest``, ``inputs`` is already that digest (a shell word, e.g. INPUTS_DIGEST)."""
    record = shlex.quote(record_path(name))
    key = inputs if digest else f"$( {{ {inputs}; }} 2>/dev/null | sha256sum)"
    # The digest line as sha256sum prints it; the record read by the shell itself (its first
    # line the digest, then the answer; every line of it ends with a newline).
    return (
        f"k={key}; r=; {{ read -r r < {record}; }} 2>/dev/null; "
        f"if [ \"$r\" = \"$k\" ]; then {{ read -r r; while IFS= read -r l; do printf '%s\\n' \"$l\"; done; }} < {record}; "
        f"elif o=$( {command} ) && [ -n \"$o\" ]; then printf '%s\\n' \"$o\"; "
        f"mkdir -p {RECORD_DIR} && printf '%s\\n%s\\n' \"$k\" \"$o\" > {record}.$$ && mv -f {record}.$$ {record}; "
        f"else [ -z \"$o\" ] || printf '%s\\n' \"$o\"; fi"
    )
