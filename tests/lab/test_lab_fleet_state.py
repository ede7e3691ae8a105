"""lab.json of a fleet (`python -m lab up --fleet`): roles, addresses, credentials. No Docker."""

from __future__ import annotations

from lab import state


def test_a_fleet_marks_one_gateway_and_backends_on_one_mode():
    hosts = [{"name": f"lab-{i}", "ssh_port": 22200 + i, "proxy_port": 18880 + i, "lab_address": f"172.17.0.{i}"}
             for i in (1, 2, 3)]
    creds = [{"name": "lab-user-1", "section": "users"}, None, None]
    entries = [state.host_entry(i, h, creds[i - 1] or state.ensure_credential(i, fleet=True), fleet=True)
               for i, h in enumerate(hosts, start=1)]
    assert [e["role"] for e in entries] == ["gateway", "backend", "backend"]
    assert [e["lab_address"] for e in entries] == ["172.17.0.1", "172.17.0.2", "172.17.0.3"]
    # The backends share one auth mode (the gateway sends one header) and list the service
    # credential the deploy makes.
    assert {e["auth_mode"] for e in entries[1:]} == {state.FLEET_BACKEND_MODE}
    assert all(e["credentials"] == [{"name": state.SERVICE_CREDENTIAL, "section": "keys"}] for e in entries[1:])


def test_without_a_fleet_every_host_is_an_endpoint_as_before():
    host = {"name": "lab-1", "ssh_port": 22201, "proxy_port": 18881}
    entry = state.host_entry(1, host, {"name": "lab-user-1", "section": "users"})
    assert entry["role"] == "endpoint" and entry["auth_mode"] == "basic"
    assert "lab_address" not in entry
