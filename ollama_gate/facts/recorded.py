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
# The docker CLI binary (path, inode, size, mtime, ctime: a package upgrade replaces the file).
DOCKER_BINARY = "stat -L -c '%n %i %s %Y %Z' \"$(command -v docker)\""
# The inputs of every Compose answer: which docker CLI and plugin binaries (path, inode,
# size, mtime, ctime: a package upgrade replaces the file), the CLI's config, and the
# COMPOSE_* variables of this session.
COMPOSE_INPUTS = (
    "stat -L -c '%n %i %s %Y %Z' \"$(command -v docker)\" " + " ".join(COMPOSE_PLUGINS) + "; "
    f"cat {DOCKER_CONFIG}/config.json; env | grep '^COMPOSE_' | LC_ALL=C sort"
)


def record_path(name: str) -> str:
    """The record's file: /run/lock/ollama-gate<name with / as _>.answer."""
    return f"{RECORD_DIR}/ollama-gate{name.replace('/', '_')}.answer"


def recorded(command: str, inputs: str, name: str) -> str:
    """Shell printing what ``command`` prints, from the record ``name`` while the output of
    ``inputs`` (shell printing every input of the answer) has the digest recorded with it;
    otherwise runs ``command`` and records its output if it succeeded and printed something."""
    record = shlex.quote(record_path(name))
    # The digest line as sha256sum prints it; the record's first line read by the shell itself.
    return (
        f"k=$( {{ {inputs}; }} 2>/dev/null | sha256sum); r=; {{ read -r r < {record}; }} 2>/dev/null; "
        f"if [ \"$r\" = \"$k\" ]; then tail -n +2 {record}; "
        f"elif o=$( {command} ) && [ -n \"$o\" ]; then printf '%s\\n' \"$o\"; "
        f"mkdir -p {RECORD_DIR} && printf '%s\\n%s\\n' \"$k\" \"$o\" > {record}.$$ && mv -f {record}.$$ {record}; "
        f"else [ -z \"$o\" ] || printf '%s\\n' \"$o\"; fi"
    )
