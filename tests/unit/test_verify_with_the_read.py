"""The verification's probes ride along with the host-state read: a run that changes nothing
on the host is verified by those answers, with no command more; any change, or any check
that failed, and the host is asked again at the end as before.

The operation runs with test_gateway_verify's stand-in host (its facts answer as curl would,
from the curl config on stdin, through the real facts' ``process``)."""

from __future__ import annotations

import base64
import json
import types

from ollama_gate.facts.http import EndpointProbes
from ollama_gate.operations import endpoint

from tests.unit import test_gateway_verify
from tests.unit.test_gateway_verify import ALICE_PW, Host

gateway = test_gateway_verify.gateway  # its fixture: a gateway and two backends


class Meta:
    def __init__(self, changed=False, succeeded=True, complete=True):
        self.changed, self.succeeded, self.complete = changed, succeeded, complete

    def is_complete(self):
        return self.complete

    def did_succeed(self):
        return self.succeeded

    def did_change(self):
        return self.changed


def _host(service, ops, down=None):
    fake = Host(service, "Basic " + base64.b64encode(f"alice:{ALICE_PW}".encode()).decode(), down=down)
    fake.state.ops = {fake: {f"op{i}": types.SimpleNamespace(operation_meta=m) for i, m in enumerate(ops)}}
    return fake


def _run(monkeypatch, cfg, fake, read_down=None):
    """Declare the read's probes (as deploy.py does), answer them as the host would at the
    read (``read_down``: URL prefix -> 502s then), then run the verification."""
    from ollama_gate.operations import util
    monkeypatch.setattr(endpoint, "host", fake)
    monkeypatch.setattr(util, "host", fake)
    monkeypatch.setattr(endpoint, "RETRY_INTERVAL", 0)
    monkeypatch.setattr(endpoint.outcomes, "verified", lambda *a: None)
    monkeypatch.setattr(endpoint, "_retired", lambda cfg: [])
    declared = endpoint.probes_with_the_read(cfg)
    assert ALICE_PW not in json.dumps(declared["probes"]) and declared["probes_names_file"]
    saved_down, fake.down = fake.down, dict(read_down or {})
    answer = fake.get_fact(EndpointProbes, requests=declared["probes"], names_file=declared["probes_names_file"],
                           _stdin=declared["stdin"])
    fake.down, read_commands, fake.commands = saved_down, list(fake.commands), []
    assert [c[0] for c in read_commands] == ["EndpointProbes"]
    monkeypatch.setattr(endpoint.snapshot, "state", lambda: {"endpoint": answer})
    return list(endpoint.endpoint._inner(cfg, retired=[]))


def test_a_run_that_changed_nothing_is_verified_by_the_reads_answers(gateway, monkeypatch):
    cfg, service, report = gateway
    fake = _host(f"Bearer {service}", [Meta(), Meta(), Meta(complete=False)])
    assert _run(monkeypatch, cfg, fake) == []
    assert fake.commands == []  # no command more
    assert any("endpoint verified" in line and "asked with the host's state read" in line for line in fake.logs)
    entry = json.loads(report.read_text())["hosts"]["gw"]
    assert entry["ok"] and {n: b["ok"] for n, b in entry["backends"].items()} == {"gpu1": True, "gpu2": True}


def test_a_run_that_changed_something_asks_again(gateway, monkeypatch):
    cfg, service, _ = gateway
    fake = _host(f"Bearer {service}", [Meta(), Meta(changed=True)])
    assert _run(monkeypatch, cfg, fake) == []
    assert [c[0] for c in fake.commands] == ["EndpointProbes"]
    assert not any("asked with the host's state read" in line for line in fake.logs)


def test_a_failed_operation_is_no_proof_either(gateway, monkeypatch):
    cfg, service, _ = gateway
    fake = _host(f"Bearer {service}", [Meta(succeeded=False)])
    assert _run(monkeypatch, cfg, fake) == []
    assert [c[0] for c in fake.commands] == ["EndpointProbes"]


def test_a_check_that_failed_at_the_read_is_asked_again_with_the_retries(gateway, monkeypatch):
    """Nothing changed, but a backend did not answer when the host was read: the whole
    verification is asked again at the end (and passes: the backend is back)."""
    cfg, service, report = gateway
    fake = _host(f"Bearer {service}", [Meta()])
    assert _run(monkeypatch, cfg, fake, read_down={"http://10.0.0.12:8880": 9}) == []
    assert [c[0] for c in fake.commands] == ["EndpointProbes"]
    assert json.loads(report.read_text())["hosts"]["gw"]["ok"]


def test_a_check_that_fails_at_the_read_and_after_fails_the_host(gateway, monkeypatch):
    cfg, _, report = gateway
    monkeypatch.setattr(endpoint, "SETTLE_SECONDS", 0)
    fake = _host("Bearer og_someone_else", [Meta()])
    commands = _run(monkeypatch, cfg, fake)
    assert len(commands) == 1 and "verification failed: " in commands[0].args[0]
    assert [c[0] for c in fake.commands] == ["EndpointProbes"]
    assert not json.loads(report.read_text())["hosts"]["gw"]["ok"]


def test_no_request_of_the_read_holds_the_run_longer_than_its_cap(tmp_path, monkeypatch):
    """The generation may take proxy_read_timeout (300 s) at the end; with the read, whose
    answer the first operation waits for, at most READ_MAX_TIME: a slower one is asked again."""
    import re

    from ollama_gate.config import check_hosts

    secrets = tmp_path / "secrets.yml"
    secrets.write_text(f"users:\n  alice: {ALICE_PW}\n")
    cfg = check_hosts([("h1", {"auth_mode": "basic", "models": ["gemma3:1b"], "proxy_read_timeout": 300})],
                      tmp_path, secrets)["h1"]
    fake = _host("unused", [])
    monkeypatch.setattr(endpoint, "host", fake)
    monkeypatch.setattr(endpoint, "_retired", lambda cfg: [])
    plan_ = endpoint._plan(cfg, [])
    assert max(p.max_time for _, p in plan_.asked) == 300  # the generation, at the end
    declared = endpoint.probes_with_the_read(cfg)
    times = [int(t) for t in re.findall(r"^max-time = (\d+)$", declared["stdin"].getvalue(), re.M)]
    assert len(times) == len(declared["probes"]) and "POST http://127.0.0.1:8880/api/generate" in declared["probes"]
    assert max(times) == endpoint.READ_MAX_TIME < 300


def test_a_gateway_whose_backend_changed_asks_again(gateway, monkeypatch):  # the backends' answers may differ now
    cfg, service, _ = gateway
    fake = _host(f"Bearer {service}", [Meta()])
    class Other:  # another host of the run, as pyinfra's Host: hashable, named
        def __init__(self, name):
            self.name = name

    backend, other = Other("gpu2"), Other("elsewhere")  # elsewhere: not in its pool
    fake.state.ops[other] = {"x": types.SimpleNamespace(operation_meta=Meta(changed=True))}
    assert _run(monkeypatch, cfg, fake) == []
    assert fake.commands == []
    fake = _host(f"Bearer {service}", [Meta()])
    fake.state.ops[backend] = {"x": types.SimpleNamespace(operation_meta=Meta(changed=True))}
    assert _run(monkeypatch, cfg, fake) == []
    assert [c[0] for c in fake.commands] == ["EndpointProbes"]


def test_a_plan_made_for_other_retired_values_is_not_the_reads(gateway, monkeypatch):
    """The read asked with the run's retired values; a verification told other ones makes
    its own plan and asks the host (the read's answers, all passing, are not taken), and no
    printed plan shows a value."""
    from ollama_gate.operations import util
    from ollama_gate.secrets_file import Secret

    cfg, service, _ = gateway
    fake = _host(f"Bearer {service}", [Meta()])
    for module in (endpoint, util):
        monkeypatch.setattr(module, "host", fake)
    monkeypatch.setattr(endpoint, "RETRY_INTERVAL", 0)
    monkeypatch.setattr(endpoint.outcomes, "verified", lambda *a: None)
    old = Secret("alice", "an-old-password-value-1234")
    monkeypatch.setattr(endpoint, "_retired", lambda cfg: [old])
    declared = endpoint.probes_with_the_read(cfg)
    assert "an-old-password-value-1234" not in repr(endpoint._plans[endpoint._key()])
    answer = fake.get_fact(EndpointProbes, requests=declared["probes"], names_file=declared["probes_names_file"],
                           _stdin=declared["stdin"])
    fake.commands = []
    monkeypatch.setattr(endpoint.snapshot, "state", lambda: {"endpoint": answer})
    assert list(endpoint.endpoint._inner(cfg, retired=[])) == []
    assert [c[0] for c in fake.commands] == ["EndpointProbes"]
