"""A gateway's verification: every backend and the gateway itself in ONE remote command.

The operation runs with a stand-in host whose facts answer as curl would: the stand-in
reads the curl config the operation sends on stdin (URL and Authorization per request),
answers each request like the real proxies would, and hands that output to the real
facts' ``process``. Counted: remote commands, and what each carried.
"""

from __future__ import annotations

import json
import re

import pytest

from ollama_gate.config import check_hosts
from ollama_gate.facts.http import BATCH_MARK, NAMES_MARK, EndpointProbes, HttpProbes
from ollama_gate.operations import endpoint
from ollama_gate.secrets_file import load_secrets

ALICE_PW = "Xq7vLp2Rk9tZw4Nc8HjB3sDf6G"
CI_KEY = "og_Qm7vX2pLk9RtZ4wNc8HjB3sDf6GyA1eU5oIi0"
FLEET = [("gw", {"auth_mode": "basic", "models": ["gemma3:1b"], "verify_generate": False}),
         ("gpu1", {"auth_mode": "bearer", "ssh_hostname": "10.0.0.11"}),
         ("gpu2", {"auth_mode": "bearer", "ssh_hostname": "10.0.0.12"})]
GROUPS = {"gw": ["gateway"], "gpu1": ["backend"], "gpu2": ["backend"]}
MODELS = json.dumps({"models": [{"name": "gemma3:1b"}]})


def _requests(stdin_text: str):
    """(url, Authorization or None) of each request in a curl batch config."""
    out = []
    for block in stdin_text.split("next\n"):
        url = re.search(r'^url = "([^"]*)"', block, re.M).group(1)
        header = re.search(r'^header = "Authorization: ([^"]*)"', block, re.M)
        out.append((url, header.group(1) if header else None))
    return out


class Host:
    """The gateway host: its curl reaches its own proxy and the backends' proxies."""

    name = "gw"
    data = {"ssh_hostname": "10.0.0.10"}

    def __init__(self, service: str, alice: str, down: dict | None = None):
        self.service, self.alice = service, alice
        self.down = dict(down or {})  # url prefix -> how many more times it answers 502
        self.commands: list[tuple[str, list[str], str]] = []
        self.logs: list[str] = []
        self.state = type("S", (), {"is_executing": True, "inventory": []})()

    def _answer(self, url: str, authorization: str | None) -> tuple[int, list[str], str]:
        for prefix in self.down:
            if url.startswith(prefix) and self.down[prefix] > 0:
                self.down[prefix] -= 1
                return 502, [], ""
        if url.startswith("http://127.0.0.1:"):
            if authorization is None:
                return 401, ['WWW-Authenticate: Basic realm="ollama-gate"'], ""
            if authorization != self.alice:
                return 401, ['WWW-Authenticate: Basic realm="ollama-gate"'], ""
            return (403, [], "") if url.endswith("/api/pull") else (200, ["Content-Type: application/json"], MODELS)
        if authorization is None:
            return 401, ['WWW-Authenticate: Bearer realm="ollama-gate"'], ""
        if authorization != self.service:
            return 401, ['WWW-Authenticate: Bearer realm="ollama-gate", error="invalid_token"'], ""
        return 200, ["Content-Type: application/json"], MODELS

    def get_fact(self, fact, requests, names_file=None, _stdin=None):
        text = _stdin.getvalue()
        kwargs = {"requests": requests} if names_file is None else {"requests": requests, "names_file": names_file}
        command = fact().command(**kwargs)
        self.commands.append((fact.__name__, requests, command))
        output = []
        for i, (url, authorization) in enumerate(_requests(text)):
            status, headers, body = self._answer(url, authorization)
            output += [f"HTTP/1.1 {status} X", *headers, "", body, f"{BATCH_MARK} {i} {status} 0"]
        if fact is EndpointProbes:
            output += [NAMES_MARK, "file", "name alice"]
        return fact().process(output)

    def noop(self, message):
        self.logs.append(message)

    def log(self, message, *args, **kwargs):
        self.logs.append(message)

    def log_styled(self, message, **kwargs):
        self.logs.append(message)


@pytest.fixture
def gateway(tmp_path, monkeypatch):
    secrets = tmp_path / "secrets.yml"
    secrets.write_text(f"users:\n  alice: {ALICE_PW}\nkeys:\n  ci: {CI_KEY}\n")
    monkeypatch.setenv("OLLAMA_GATE_REPORT", str(tmp_path / "report.json"))
    configs = check_hosts(FLEET, tmp_path, secrets, groups=GROUPS)
    service = load_secrets(secrets).keys["ollama-gate-gateway"].reveal()
    return configs["gw"], service, tmp_path / "report.json"


def run(monkeypatch, cfg, fake):
    from ollama_gate.operations import util
    monkeypatch.setattr(endpoint, "host", fake)
    monkeypatch.setattr(util, "host", fake)
    monkeypatch.setattr(endpoint, "RETRY_INTERVAL", 0)
    monkeypatch.setattr(endpoint.outcomes, "verified", lambda *a: None)
    return list(endpoint.endpoint._inner(cfg, retired=[]))


def test_every_backend_and_the_gateway_in_one_command_with_no_secret_on_it(gateway, monkeypatch):
    cfg, service, report = gateway
    import base64
    alice = "Basic " + base64.b64encode(f"alice:{ALICE_PW}".encode()).decode()
    fake = Host(f"Bearer {service}", alice)
    assert run(monkeypatch, cfg, fake) == []  # verified: nothing to do on the host
    assert [c[0] for c in fake.commands] == ["EndpointProbes"]
    _, requests, command = fake.commands[0]
    assert "curl -sS --parallel --parallel-immediate --parallel-max 16 -K - > marks;" in command
    assert service not in command and ALICE_PW not in command and service not in " ".join(requests)
    asked = " ".join(requests)
    assert "http://10.0.0.11:8880/api/tags" in asked and "http://10.0.0.12:8880/api/tags" in asked
    assert "http://127.0.0.1:8880/api/tags" in asked
    assert any("endpoint verified" in line for line in fake.logs), fake.logs
    pool = [line for line in fake.logs if line.strip().startswith(("gpu1:", "gpu2:"))]
    assert pool == ["    gpu1: 10.0.0.11:8880 weight 1: up", "    gpu2: 10.0.0.12:8880 weight 1: up"]
    entry = json.loads(report.read_text())["hosts"]["gw"]
    assert entry["role"] == "gateway"
    assert {n: (b["ok"], b["state"], len(b["checks"])) for n, b in entry["backends"].items()} == {
        "gpu1": (True, "up", 2), "gpu2": (True, "up", 2)}
    # The gateway's own checks are its own: none of them is a backend's.
    assert all(c["host"] == "gw" for c in entry["checks"] if "backend" not in c["host"])


def test_a_backend_that_just_reloaded_is_asked_again_alone_until_it_answers(gateway, monkeypatch):
    cfg, service, report = gateway
    import base64
    alice = "Basic " + base64.b64encode(f"alice:{ALICE_PW}".encode()).decode()
    fake = Host(f"Bearer {service}", alice, down={"http://10.0.0.12:8880": 4})
    assert run(monkeypatch, cfg, fake) == []
    # The first command asks everything; each retry only gpu2's two probes, in one command.
    assert [c[0] for c in fake.commands] == ["EndpointProbes", "HttpProbes", "HttpProbes"]
    assert all(all("10.0.0.12" in r for r in c[1]) and len(c[1]) == 2 for c in fake.commands[1:])
    entry = json.loads(report.read_text())["hosts"]["gw"]
    assert entry["backends"]["gpu2"]["ok"] and entry["backends"]["gpu1"]["ok"]


def test_a_backend_refusing_the_service_credential_fails_the_gateway_naming_it(gateway, monkeypatch):
    cfg, service, report = gateway
    monkeypatch.setattr(endpoint, "SETTLE_SECONDS", 0)
    fake = Host("Bearer og_someone_else", "nobody")
    commands = run(monkeypatch, cfg, fake)
    assert len(commands) == 1 and "verification failed: " in commands[0].args[0]  # fail_host's
    entry = json.loads(report.read_text())["hosts"]["gw"]
    assert entry["backends"]["gpu1"]["state"] == "credential-accepted expected 200, got 401"
    assert not entry["backends"]["gpu1"]["ok"]
    assert any("gw -> backend gpu1: check credential-accepted failed for credential ollama-gate-gateway" in line
               for line in fake.logs), fake.logs
