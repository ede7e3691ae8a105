"""Which hosts are gateways and whose backends (pure: settings and inventory groups in)."""

from __future__ import annotations

from types import SimpleNamespace

from ollama_gate.gateway import backend_address, plan_fleet


def s(backends=("backend",), mode="basic", tls="off", address="", port=8880):
    return SimpleNamespace(gateway_backends=tuple(backends), auth_mode=mode, proxy_tls=tls,
                           gateway_backend_address=address, proxy_port=port)


def test_groups_give_roles_the_pyinfra_way():
    hosts = {"gw": s(mode="bearer"), "gpu1": s(), "gpu2": s(), "solo": s()}
    groups = {"gw": ["gateway"], "gpu1": ["backend"], "gpu2": ["backend"], "solo": []}
    fleet, errors = plan_fleet(hosts, groups)
    assert errors == []
    assert fleet.pools == {"gw": ("gpu1", "gpu2")}
    assert [fleet.role(n) for n in hosts] == ["gateway", "backend", "backend", "endpoint"]


def test_backends_named_by_host_and_group_once_each_in_inventory_order():
    hosts = {"gw": s(backends=("gpu2", "gpus")), "gpu1": s(), "gpu2": s()}
    groups = {"gw": ["gateway"], "gpu1": ["gpus"], "gpu2": ["gpus"]}
    fleet, errors = plan_fleet(hosts, groups)
    assert errors == [] and fleet.pools["gw"] == ("gpu2", "gpu1")


def test_problems_name_the_gateway_and_the_setting():
    hosts = {"gw": s(backends=("nope", "gw2", "mixed")), "gw2": s(backends=("a",)), "a": s(mode="bearer"),
             "b": s(tls="self-signed")}
    groups = {"gw": ["gateway"], "gw2": ["gateway"], "a": ["mixed"], "b": ["mixed"]}
    _, errors = plan_fleet(hosts, groups)
    text = "\n".join(errors)
    assert "gw: gateway_backends: 'nope' is neither a host nor a group" in text
    assert "gw: gateway_backends: 'gw2' is a gateway itself" in text
    assert "gw: proxy_tls: its backends differ" in text
    assert "gw2: gateway_backends: 'a' is already a backend of 'gw'" in text or \
        "gw: gateway_backends: 'a' is already a backend of 'gw2'" in text


def test_a_gateway_without_backends_is_refused():
    _, errors = plan_fleet({"gw": s(backends=())}, {"gw": ["gateway"]})
    assert errors == ["gw: gateway_backends: a gateway needs backends (inventory group or host names)"]


def test_backend_address_prefers_the_setting_then_ssh_hostname():
    assert backend_address("gpu1", s(address="10.1.0.5", port=9000), {"ssh_hostname": "x"}) == "10.1.0.5:9000"
    assert backend_address("gpu1", s(), {"ssh_hostname": "gpu1.lan"}) == "gpu1.lan:8880"
    assert backend_address("gpu1", s(), {}) == "gpu1:8880"
