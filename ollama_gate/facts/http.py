"""Facts from HTTP requests the host makes to its own proxy (curl on the host)."""

from __future__ import annotations

import json
import shlex
from io import StringIO

from typing_extensions import override

from pyinfra.api import FactBase

from ..layout import LOCK_DIR

# Lines curl and the shell add after the response, so that status and exit code are data.
STATUS_MARK = "__OLLAMA_GATE_HTTP_STATUS__"
EXIT_MARK = "__OLLAMA_GATE_CURL_EXIT__"
# The line curl writes after each answer of a batch: mark, request index, status, exit code.
BATCH_MARK = "__OLLAMA_GATE_HTTP_ANSWER__"
# Response headers kept (lower case); nothing else of the head is returned.
KEPT_HEADERS = ("www-authenticate", "content-type")


class SecretStdin(StringIO):
    """The curl config fed on stdin. pyinfra prints a fact's arguments at -v and in
    --debug (``_stdin=...``); this buffer prints as a placeholder, never as its text.
    pyinfra_cli's JSON dumps (--debug-operations, --debug-facts) read any in-memory file
    without a ``name`` ("In memory file: <text>"); named, it is shown as "File: <name>"."""

    name = "<hidden curl config>"

    def __repr__(self) -> str:
        return "<hidden curl config>"

    __str__ = __repr__


def _config_quote(value: str) -> str:
    if any(ch in value for ch in "\r\n\0"):
        raise ValueError("a curl config value cannot hold line breaks")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def curl_config(authorization: str | None) -> SecretStdin:
    """The text for ``curl -K -``: the Authorization header, so it never is an argument
    of a command line (visible in ``ps`` and in pyinfra's output)."""
    if authorization is None:
        return SecretStdin("")
    return SecretStdin(f"header = {_config_quote('Authorization: ' + authorization)}\n")


def _request_config(index: int, method: str, url: str, body: str | None, max_time: int,
                    insecure: bool, authorization: str | None, cacert: str = "", resolve: str = "") -> str:
    if method not in ("GET", "POST"):
        raise ValueError(f"HttpProbes: method {method!r} is not GET or POST")
    # Each answer's head and body go to files of their own (the requests run in parallel,
    # so their output would interleave on stdout); HttpProbes prints them back in order.
    lines = [f"url = {_config_quote(url)}", f'dump-header = "{index}.head"', f'output = "{index}.body"',
             f"max-time = {int(max_time)}",
             f'write-out = "\\n{BATCH_MARK} {index} %{{http_code}} %{{exitcode}}\\n"']
    if insecure:
        lines.append("insecure")
    if cacert:
        # Trust exactly these certificates (a gateway checking its TLS backends).
        lines.append(f"cacert = {_config_quote(cacert)}")
    if resolve:
        # name:port:address: the URL's name is checked on the certificate, the address dialled.
        lines.append(f"resolve = {_config_quote(resolve)}")
    if method == "POST":
        lines += ['request = "POST"', 'header = "Content-Type: application/json"',
                  f"data-binary = {_config_quote(body or '{}')}"]
    if authorization is not None:
        lines.append(f"header = {_config_quote('Authorization: ' + authorization)}")
    return "\n".join(lines) + "\n"


def curl_batch_config(requests) -> SecretStdin:
    """The text for ``curl -K -`` making every request of ``requests`` in one curl run, one
    after the other (``next`` separates them): each is ``(method, url, body, max_time,
    insecure, authorization or None[, cacert, resolve])`` (cacert: a CA file on the host to
    trust instead of the system's; resolve: curl's ``name:port:address``). Every option is in the config, so the command line
    is ``curl -sS -K -`` whatever is asked, and no header, body or URL is an argument."""
    return SecretStdin("next\n".join(
        _request_config(i, *request) for i, request in enumerate(requests)))


class HttpProbes(FactBase[list[dict | None]]):
    """
    Returns the answers to several HTTP requests from the host, made in ONE command: a single curl reads all of them
    from its standard input (``_stdin=curl_batch_config(...)``), so a verification is one
    round trip however many credentials it proves, and no credential is an argument.
    The answers are in the order asked, each shaped like ``HttpProbe``'s (``None`` for a
    request curl never reported on).

    + requests: what is asked, for pyinfra's output only (``"GET /api/tags"``, no secret)

    .. code:: python

        [{"status": 200, "models": ["gemma3:1b"], ...}, {"status": 401, ...}]
    """

    @override
    def requires_command(self, requests: list[str]) -> str:
        return "curl"

    @override
    def command(self, requests: list[str]) -> str:
        # The requests run at the same time (--parallel; --parallel-immediate opens a
        # connection for each instead of waiting to reuse one), so a verification takes as
        # long as its slowest request (the generation), not the sum. Each answer is written to
        # <i>.head and <i>.body in a directory of its own beside the deploy lock (not /tmp,
        # which may be full), then printed in the order asked, each followed by its mark
        # line (%{exitcode}: a refused connection is an answer too). The directory holds
        # answers only, never a request (credentials stay on curl's stdin). One awk puts
        # each mark line in <i>.mark, one cat prints <i>.head, <i>.body, a line break (a
        # body may end without one) and <i>.mark for each request in turn (a missing file,
        # a request curl never reported on, is skipped).
        printed = " ".join(f"{i}.head {i}.body nl {i}.mark" for i in range(len(requests)))
        return (
            f"d=$(mktemp -d -p {LOCK_DIR} ollama-gate-probes.XXXXXX) && ( cd \"$d\" && "
            "curl -sS --parallel --parallel-immediate --parallel-max 16 -K - > marks; echo > nl; "
            f"awk -v m={BATCH_MARK} '$1 == m && $2 ~ /^[0-9]+$/ {{ print > ($2 \".mark\") }}' marks; "
            f"cat {printed} 2>/dev/null ); rm -rf \"$d\"; true"
        )

    @override
    def process(self, output: list[str]) -> list[dict | None]:
        answers: dict[int, dict] = {}
        region: list[str] = []
        for line in output:
            parts = line.rstrip("\r").split()
            if len(parts) == 4 and parts[0] == BATCH_MARK and parts[1].isdigit():
                _, index, code, exit_code = parts
                answers[int(index)] = HttpProbe().process(
                    [*region, f"{STATUS_MARK} {code}", f"{EXIT_MARK} {exit_code}"])
                region = []
            else:
                region.append(line)
        count = max(answers) + 1 if answers else 0
        return [answers.get(i) for i in range(count)]


NAMES_MARK = "__OLLAMA_GATE_CREDENTIAL_NAMES__"


class EndpointProbes(FactBase[dict]):
    """
    Returns a host's verification from ONE command: the answers to the requests of
    ``HttpProbes`` (one curl, every request on stdin), then the names in its credential file
    (``CredentialNames``), so the verification of an unchanged host is one round trip.

    + requests: what is asked, for pyinfra's output only (``"GET /api/tags"``, no secret)
    + names_file: the credential file whose names are read

    .. code:: python

        {"answers": [{"status": 200, ...}, ...], "names": {"alice": None}}
    """

    @override
    def requires_command(self, requests: list[str], names_file: str) -> str:
        return "curl"

    @override
    def command(self, requests: list[str], names_file: str) -> str:
        from .stack import CredentialNames

        return (f"{HttpProbes().command(requests)}; echo '{NAMES_MARK}'; "
                f"{CredentialNames().command(names_file)}")

    @override
    def process(self, output: list[str]) -> dict:
        from .stack import CredentialNames

        at = output.index(NAMES_MARK) if NAMES_MARK in output else len(output)
        names = output[at + 1:]
        return {"answers": HttpProbes().process(output[:at]),
                "names": CredentialNames().process(names) if names else None}


class HttpProbe(FactBase[dict]):
    """
    Returns the answer to one HTTP request from the host, made by curl. Credentials are never arguments: pass
    ``_stdin=curl_config(authorization)`` (read by ``curl -K -``). ``status`` is 0 when
    nothing answered (``curl_exit`` says why: 7 refused, 28 timed out, 35/60 TLS).
    JSON bodies are parsed: ``models`` are the names of ``/api/tags``, ``response`` the
    text of a non-streamed ``/api/generate``; ``body`` keeps the first 2000 characters.

    + url: the URL, e.g. ``http://127.0.0.1:8880/api/tags``
    + method: GET or POST
    + body: request body (JSON), sent with ``Content-Type: application/json``
    + max_time: seconds curl may take in all
    + insecure: accept the proxy's self-signed certificate (``-k``)

    .. code:: python

        {
            "status": 401,
            "www_authenticate": ['Basic realm="ollama-gate"'],
            "content_type": "text/html",
            "models": None,
            "response": None,
            "body": "<html>...",
            "curl_exit": 0,
        }
    """

    @override
    def requires_command(self, url: str, method: str = "GET", body: str | None = None,
                         max_time: int = 30, insecure: bool = False) -> str:
        return "curl"

    @override
    def command(self, url: str, method: str = "GET", body: str | None = None,
                max_time: int = 30, insecure: bool = False) -> str:
        args = ["curl", "-sS", "-D", "-", "-K", "-", "--max-time", str(int(max_time)),
                "-w", f"\\n{STATUS_MARK} %{{http_code}}\\n"]
        if insecure:
            args.append("-k")
        if method not in ("GET", "POST"):
            raise ValueError(f"HttpProbe: method {method!r} is not GET or POST")
        if method == "POST":
            args += ["-H", "Content-Type: application/json", "--data-binary", body or "{}"]
        args.append(url)
        # The exit code is printed, not returned: a refused connection is an answer here.
        return " ".join(shlex.quote(a) for a in args) + f'; echo "{EXIT_MARK} $?"'

    @override
    def process(self, output: list[str]) -> dict:
        lines = [line.rstrip("\r") for line in output]
        result: dict = {"status": 0, "www_authenticate": [], "content_type": None,
                        "models": None, "response": None, "body": "", "curl_exit": None}
        status_at = len(lines)
        for i, line in enumerate(lines):
            if line.startswith(STATUS_MARK + " "):
                code = line.split()[1]
                result["status"] = int(code) if code.isdigit() else 0
                status_at = i
            elif line.startswith(EXIT_MARK + " "):
                code = line.split()[1]
                result["curl_exit"] = int(code) if code.isdigit() else None

        # curl -D - writes every response head (1xx ones too) before the body: keep the last.
        i = 0
        head: list[str] = []
        while i < status_at and lines[i].startswith("HTTP/"):
            head = []
            i += 1
            while i < status_at and lines[i] != "":
                head.append(lines[i])
                i += 1
            i += 1  # the blank line ending the head
        for line in head:
            name, sep, value = line.partition(":")
            if not sep:
                continue
            key = name.strip().lower()
            if key == "www-authenticate":
                result["www_authenticate"].append(value.strip())
            elif key == "content-type":
                result["content_type"] = value.strip()

        body_lines = lines[i:status_at]
        # -w starts with a newline so the mark is on its own line; drop that newline.
        if body_lines and body_lines[-1] == "":
            body_lines = body_lines[:-1]
        body = "\n".join(body_lines)
        result["body"] = body[:2000]
        if "json" in (result["content_type"] or ""):
            try:
                data = json.loads(body)
            except ValueError:
                data = None
            if isinstance(data, dict):
                if isinstance(data.get("models"), list):
                    result["models"] = [m.get("name") for m in data["models"] if isinstance(m, dict)]
                if isinstance(data.get("response"), str):
                    result["response"] = data["response"]
        return result
