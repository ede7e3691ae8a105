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


# --- The fleet in the checked config (check_hosts with inventory groups) ---------------

import pytest  # noqa: E402

from ollama_gate.config import check_hosts  # noqa: E402
from ollama_gate.secrets_file import load_secrets  # noqa: E402
from ollama_gate.settings import ConfigError  # noqa: E402

ALICE_PW = "Xq7vLp2Rk9tZw4Nc8HjB3sDf6G"
CI_KEY = "og_Qm7vX2pLk9RtZ4wNc8HjB3sDf6GyA1eU5oIi0"
SECRETS = f"users:\n  alice: {ALICE_PW}\nkeys:\n  ci: {CI_KEY}\n"
FLEET = [("gw", {"auth_mode": "basic", "models": ["gemma3:1b", "all-minilm"]}),
         ("gpu1", {"auth_mode": "bearer", "ssh_hostname": "10.0.0.11", "gateway_weight": 3}),
         ("gpu2", {"auth_mode": "bearer", "gateway_backend_address": "gpu2.lan", "proxy_port": 9000}),
         ("solo", {"auth_mode": "bearer"})]
GROUPS = {"gw": ["gateway"], "gpu1": ["backend"], "gpu2": ["backend"], "solo": []}


@pytest.fixture
def secrets_path(tmp_path):
    path = tmp_path / "secrets.yml"
    path.write_text(SECRETS)
    return path


def test_the_deploy_makes_the_service_credential_once_in_the_backends_section(secrets_path, tmp_path):
    configs = check_hosts(FLEET, tmp_path, secrets_path, groups=GROUPS)
    key = load_secrets(secrets_path).keys["ollama-gate-gateway"].reveal()
    assert key.startswith("og_") and key not in (CI_KEY,)
    check_hosts(FLEET, tmp_path, secrets_path, groups=GROUPS)
    assert load_secrets(secrets_path).keys["ollama-gate-gateway"].reveal() == key  # kept
    gw = configs["gw"]
    assert gw.role == "gateway" and list(gw.credentials) == ["alice"]
    assert gw.gateway.service.reveal() == f"Bearer {key}"
    assert key not in repr(gw)
    assert [(b.name, b.address, b.weight) for b in gw.gateway.pool.backends] == [
        ("gpu1", "10.0.0.11:8880", 3), ("gpu2", "gpu2.lan:9000", 1)]


def test_backends_accept_only_the_service_credential_and_take_the_gateways_models(secrets_path, tmp_path):
    configs = check_hosts(FLEET, tmp_path, secrets_path, groups=GROUPS)
    for name in ("gpu1", "gpu2"):
        assert configs[name].role == "backend"
        assert list(configs[name].credentials) == ["ollama-gate-gateway"]
        assert configs[name].settings.models == ("gemma3:1b", "all-minilm")
    # Another bearer host accepting "every key" does not accept the gateway's.
    assert configs["solo"].role == "endpoint" and list(configs["solo"].credentials) == ["ci"]


def test_a_backend_can_also_accept_its_clients(secrets_path, tmp_path):
    fleet = [(n, dict(d, gateway_accept_clients=True) if n == "gpu1" else d) for n, d in FLEET]
    configs = check_hosts(fleet, tmp_path, secrets_path, groups=GROUPS)
    assert list(configs["gpu1"].credentials) == ["ci", "ollama-gate-gateway"]
    assert list(configs["gpu2"].credentials) == ["ollama-gate-gateway"]


def test_a_service_name_in_another_section_is_an_error_naming_the_gateway(secrets_path, tmp_path):
    secrets_path.write_text(SECRETS + "")
    fleet = [(n, dict(d, gateway_service_credential="alice") if n == "gw" else d) for n, d in FLEET]
    with pytest.raises(ConfigError) as err:
        check_hosts(fleet, tmp_path, secrets_path, groups=GROUPS)
    assert "gw: gateway_service_credential: 'alice' is under 'users:'" in str(err.value)
    assert ALICE_PW not in str(err.value)


def test_without_groups_every_host_is_an_endpoint_as_before(secrets_path, tmp_path):
    configs = check_hosts(FLEET, tmp_path, secrets_path)
    assert {c.role for c in configs.values()} == {"endpoint"}
    assert "ollama-gate-gateway" not in load_secrets(secrets_path).keys
