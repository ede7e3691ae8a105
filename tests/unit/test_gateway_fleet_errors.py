"""Fleet problems in full: each names the gateway, the setting and what to change."""

from __future__ import annotations

from tests.unit.test_gateway_fleet import s

from ollama_gate.gateway import plan_fleet


def test_hosts_missing_from_the_group_map_are_plain_endpoints():
    fleet, errors = plan_fleet({"gw": s(backends=("gpu1",)), "gpu1": s(), "solo": s()}, {"gw": ["gateway"]})
    assert errors == [] and fleet.pools == {"gw": ("gpu1",)}
    assert [fleet.role(n) for n in ("gw", "gpu1", "solo")] == ["gateway", "backend", "endpoint"]


def test_every_problem_in_full():
    hosts = {"gw": s(backends=("a", "b")), "gw2": s(backends=("a",)), "a": s(mode="bearer"), "b": s()}
    _, errors = plan_fleet(hosts, {"gw": ["gateway"], "gw2": ["gateway"]})
    assert errors == [
        "gw: auth_mode: its backends differ (basic, bearer); the backends of one gateway share one auth_mode",
        "gw2: gateway_backends: 'a' is already a backend of 'gw'; a backend takes the model list of one gateway",
    ]
