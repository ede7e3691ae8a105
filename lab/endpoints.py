"""Endpoints: print each lab host's endpoint for people, and check it answers as it should.

A deployed host answers 200 to its credential and 401 to a wrong one or to none. Traffic
goes only to the 127.0.0.1 ports the lab published; each check is a bounded retry.
"""

from __future__ import annotations

import os
import sys
import time
import urllib.error
import urllib.request

from ollama_gate import PROJECT_DIR, auth
from ollama_gate.settings import Settings

from .state import secret_value

def auth_header(mode: str, name: str, value: str) -> str:
    """The Authorization header of a credential in auth mode."""
    return auth.mode(mode).authorization(name, value)


def status_of(url: str, authorization: str | None, timeout: float = 10) -> int:
    """The HTTP status of GET url (0 when nothing answers)."""
    request = urllib.request.Request(url)
    if authorization:
        request.add_header("Authorization", authorization)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as e:
        return e.code
    except (urllib.error.URLError, OSError):
        return 0


def check_host(host: dict, state: dict, wait: float = 30) -> list[str]:
    """Problems of one host: 200 with its credential, 401 with a wrong one and with none."""
    url = host["proxy_url"] + "/api/tags"
    mode = host["auth_mode"]
    problems = []
    for cred in host["credentials"]:
        value = secret_value(cred["name"], state)
        # Wait (bounded) for the proxy only on the first request; the others must be right.
        deadline = time.monotonic() + wait
        good = status_of(url, auth_header(mode, cred["name"], value))
        while good in (0, 502, 503) and time.monotonic() < deadline:
            time.sleep(1)
            good = status_of(url, auth_header(mode, cred["name"], value))
        if good != 200:
            problems.append(f"{cred['name']}: expected 200, got {good or 'no answer'}")
        wrong = "wrong-" + value[::-1]
        bad = status_of(url, auth_header(mode, cred["name"], wrong))
        if bad != 401:
            problems.append(f"wrong {auth.mode(mode).value_kind}: "
                            f"expected 401, got {bad or 'no answer'}")
    none = status_of(url, None)
    if none != 401:
        problems.append(f"no credential: expected 401, got {none or 'no answer'}")
    return problems


def _python() -> str:
    """How to call this Python from the project directory (the venv's, when it is there)."""
    exe = sys.executable
    try:
        rel = os.path.relpath(exe, PROJECT_DIR)
    except ValueError:
        return exe
    return rel if not rel.startswith("..") else exe


def describe(host: dict, state: dict, model: str) -> str:
    """The lines that tell a person how to use one lab host."""
    mode = host["auth_mode"]
    cred = host["credentials"][0]["name"]
    secrets = os.path.relpath(state["secrets_file"], PROJECT_DIR)
    secret_cmd = f"$({_python()} -m lab secret {cred})"
    body = f"'{{\"model\": \"{model}\", \"prompt\": \"Say hello\", \"stream\": false}}'"
    m = auth.mode(mode)
    curl_auth = m.curl_option(cred, secret_cmd)
    tb_auth = f"{m.summary_label}; {m.thingsboard_fields(cred)} under '{m.section}:' in {secrets}"
    return "\n".join([
        f"{host['name']}  ({mode})  {host['proxy_url']}",
        f"  curl (from {PROJECT_DIR}):",
        f"    curl -sS {curl_auth} {host['proxy_url']}/api/generate -d {body}",
        "  ThingsBoard AI model (provider Ollama):",
        f"    Base URL:        {host['proxy_url']}",
        f"    Authentication:  {tb_auth}",
        f"    Model ID:        {model}",
        f"  (print the secret: {_python()} -m lab secret {cred})",
    ])


def endpoints(state: dict, check: bool = True) -> int:
    """Print every host's endpoint; with check, 0 only when every host answers as it should."""
    model = Settings().models[0]
    failed = 0
    # A fleet's gateway comes last: its curl line is the one to use.
    ordered = sorted(state["hosts"], key=lambda h: h.get("role") == "gateway")
    for host in ordered:
        if host.get("role") == "backend":
            print(f"{host['name']}  (backend of the gateway; accepts only the gateway's "
                  f"{host['credentials'][0]['name']!r})  {host['proxy_url']}")
        else:
            print(describe(host, state, model))
        if check:
            problems = check_host(host, state)
            if problems:
                failed += 1
                print("  CHECK FAILED: " + "; ".join(problems))
            else:
                cred = host["credentials"][0]["name"]
                print(f"  checked: 200 with {cred}, 401 with a wrong "
                      f"{auth.mode(host['auth_mode']).value_kind} and with none")
        print()
    if check:
        total = len(state["hosts"])
        print(f"{total - failed} of {total} lab hosts answer as they should")
    return 1 if failed else 0
