"""Facts about the models an Ollama container holds."""

from __future__ import annotations

import json
import shlex

from typing_extensions import override

from pyinfra.api import FactBase

from . import inspected

EXIT_MARK = "__ollama_gate_exit="
# The line before the server's own answer to GET /api/tags (asked from the host).
TAGS_MARK = "__ollama_gate_api_tags__"
# Where the proxy reaches Ollama (proxy.py: ollama:11434), from inside its container.
TAGS_URL = "http://127.0.0.1:11434/api/tags"


def _tag_names(body: str) -> list | str:
    """The model names of an /api/tags answer (what `ollama list` prints), or why not."""
    try:
        models = json.loads(body)["models"]
        return [m["name"] for m in models]
    except (ValueError, KeyError, TypeError) as e:
        return f"/api/tags of the Ollama server answered something else ({type(e).__name__}): {body[:200]}"


class OllamaModels(FactBase[list | str | None]):
    """
    Returns the names of the models in an Ollama container, as ``ollama list`` prints them:
    an empty list when Ollama answers and holds no model, ``None`` when there is no such
    container (not created yet). When the container is there but cannot be asked
    (``docker exec`` fails, e.g. "no space left on device" with a full /tmp; Ollama does not
    answer), a ``str``: the reason, never "no models".

    ``ollama list`` is a client of the server's ``GET /api/tags`` (its NAME column is each
    model's ``name``). The host asks that same endpoint itself, from inside the
    container's network namespace (``nsenter -n`` + the host's curl, at 127.0.0.1:11434
    where the proxy reaches Ollama too): no process is started in the container (a
    ``docker exec`` costs the host ~0.15 s of CPU). Only when that cannot be done (not
    root, no curl yet, the container not running, no answer) does it run ``ollama list``
    in the container (``NAME  ID  SIZE  MODIFIED`` columns) and report what that says.

    + container: name of the container running Ollama

    .. code:: python

        ["gemma3:1b", "llama3.2:latest"]
    """

    @override
    def requires_command(self, container: str) -> str:
        return "docker"

    @override
    def command(self, container: str) -> str:
        return self._command(container, shared=False)

    def shared_command(self, container: str) -> str:
        """The command within HostState: its one inspect of the stack's containers
        (facts/inspected.py) gives the process instead of an inspect of its own."""
        return self._command(container, shared=True)

    def _command(self, container: str, shared: bool) -> str:
        c = shlex.quote(container)
        pid = (inspected.fields(container, "print $3") if shared else
               f"docker container inspect -f '{{{{.State.Pid}}}}' {c} 2>/dev/null")
        # Only a missing container is a normal "nothing"; every other failure is reported
        # (by `ollama list` itself). --noproxy: the session's http_proxy must not take the
        # request; -f: an HTTP error is no answer.
        return (f"if pid=$({pid}); then "
                "if [ \"${pid:-0}\" -gt 0 ] 2>/dev/null && tags=$(nsenter -t \"$pid\" -n curl -sSf --noproxy '*' "
                f"--max-time 10 {TAGS_URL} 2>/dev/null) && [ -n \"$tags\" ]; then "
                f"echo '{TAGS_MARK}'; printf '%s\\n' \"$tags\"; else "
                f"out=$(docker exec {c} ollama list 2>&1); rc=$?; echo \"$out\"; "
                f"echo \"{EXIT_MARK}$rc\"; fi; fi || true")

    @override
    def process(self, output) -> list | str | None:
        lines = [line for line in output if line.strip()]
        if not lines:
            return None
        if lines[0] == TAGS_MARK:
            return _tag_names("\n".join(lines[1:]))
        status = lines[-1].strip().removeprefix(EXIT_MARK) if lines[-1].startswith(EXIT_MARK) else "?"
        lines = lines[:-1] if status != "?" else lines
        if status != "0" or not lines or lines[0].split()[0] != "NAME":
            said = " ".join(line.strip() for line in lines[-3:]) or "no output"
            return f"`ollama list` in the container exited {status}: {said}"
        return [line.split()[0] for line in lines[1:]]


class ModelFiles(FactBase[dict]):
    """
    Returns the blobs (name -> size) and manifests (path -> sha256) in the models volume, read on
    the host through the volume's mount point, so neither a running container nor tools in
    the Ollama image are needed. Empty when the volume does not exist yet.

    + volume: the Compose volume holding /root/.ollama (``<project>_ollama-models``)

    .. code:: python

        {"blobs": {"sha256-7cd4...": 815310432},
         "manifests": {"manifests/registry.ollama.ai/library/gemma3/1b": "3f0e..."}}
    """

    default = dict

    @override
    def command(self, volume: str) -> str:
        return (
            f"mp=$(docker volume inspect -f '{{{{.Mountpoint}}}}' {shlex.quote(volume)} 2>/dev/null); "
            'if [ -n "$mp" ] && [ -d "$mp/models" ]; then cd "$mp/models" && { '
            "find blobs -maxdepth 1 -type f -name 'sha256-*' -printf 'blob %f %s\\n' 2>/dev/null; "
            "find manifests -type f -exec sha256sum {} + 2>/dev/null | sed 's/^/manifest /'; }; fi; true"
        )

    @override
    def process(self, output) -> dict:
        blobs, manifests = {}, {}
        for line in output:
            bits = line.split()
            if len(bits) == 3 and bits[0] == "blob" and bits[2].isdigit():
                blobs[bits[1]] = int(bits[2])
            elif len(bits) == 3 and bits[0] == "manifest":
                manifests[bits[2]] = bits[1]
        return {"blobs": blobs, "manifests": manifests}
