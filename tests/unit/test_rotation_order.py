"""deploy.py's order for a rotated gateway credential, without a host.

pyinfra runs each operation on every host before the next one, in the order of the lines
of deploy.py that call them (whichever host calls them). So the order that makes a rotation
lose no request is the order of those lines: a backend's credential file (new value AND
the previous one) before the gateway's include, the gateway's wait for its backends
before its reload, and the backend's final file after that reload.
"""

from __future__ import annotations

from ollama_gate.config import check_hosts
from tests.unit.test_deploy_plan import run_deploy

FLEET = [("gw", {"auth_mode": "basic", "verify_enabled": False}),
         ("gpu1", {"auth_mode": "bearer", "ssh_hostname": "10.0.0.11", "verify_enabled": False})]
GROUPS = {"gw": ["gateway"], "gpu1": ["backend"]}


def plan_lines(monkeypatch, cfg):
    """(operation, name, line of deploy.py that called it, arguments) for one host's run."""
    return [(op, kwargs.get("name", ""), line, kwargs) for op, kwargs, line in run_deploy(monkeypatch, cfg)]


def line_of(calls, op, name_start=""):
    found = [line for o, name, line, _ in calls if o == op and name.startswith(name_start)]
    assert len(found) == 1, (op, name_start, [(o, n) for o, n, _, _ in calls])
    return found[0]


def test_backends_accept_both_values_before_the_gateway_switches_and_drop_the_old_after(monkeypatch, tmp_path):
    secrets = tmp_path / "secrets.yml"
    secrets.write_text("users:\n  alice: Xq7vLp2Rk9tZw4Nc8HjB3sDf6G\nkeys:\n  ci: og_Qm7vX2pLk9RtZ4wNc8HjB3sDf6GyA1eU5oIi0\n")
    configs = check_hosts(FLEET, tmp_path, secrets, groups=GROUPS)
    with monkeypatch.context() as m:
        backend = plan_lines(m, configs["gpu1"])
    with monkeypatch.context() as m:
        gateway = plan_lines(m, configs["gw"])

    both = line_of(backend, "stack.file", "Write the credential file of the auth mode")
    include = line_of(gateway, "stack.file", "Write the gateway's credential for its backends")
    wait = line_of(gateway, "gateway.backends_accept")
    reload_ = line_of(gateway, "stack.proxy_loaded")
    assert line_of(backend, "stack.proxy_loaded") == reload_  # one operation for every host
    final = line_of(backend, "credentials.previous_dropped")
    assert both < include < wait < reload_ < final
    # Each role runs only its own step.
    assert not [c for c in backend if c[0] == "gateway.backends_accept"]
    assert not [c for c in gateway if c[0] == "credentials.previous_dropped"]
    dropped = [kw for o, _, _, kw in backend if o == "credentials.previous_dropped"][0]
    assert dropped["gateway"] == "gw" and dropped["path"].endswith("/auth/keys.sha256")
    assert dropped["mode"] == 0o640 and dropped["gid"] == 65534
