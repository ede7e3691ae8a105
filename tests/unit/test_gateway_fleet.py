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


# --- TLS between the gateway and its backends -----------------------------------------

from ollama_gate.gateway import (PUBLIC_CAS, TRUST_PREVIEW, TrustMissing, backend_resolve,  # noqa: E402
                                 backend_trust_bundle, backend_url, trust_bundle)
from ollama_gate.operations.util import ContentUnavailable  # noqa: E402

TLS_FLEET = [("gw", {"auth_mode": "basic"}),
             ("gpu1", {"auth_mode": "bearer", "ssh_hostname": "10.0.0.11", "proxy_tls": "self-signed"}),
             ("gpu2", {"auth_mode": "bearer", "gateway_backend_address": "10.0.0.12", "proxy_tls": "self-signed",
                       "proxy_port": 9443})]


def test_self_signed_backends_are_checked_by_inventory_name_against_their_fetched_certificate(
        secrets_path, tmp_path):
    pool = check_hosts(TLS_FLEET, tmp_path, secrets_path, groups=GROUPS)["gw"].gateway.pool
    assert pool.tls
    assert [(b.name, b.address, b.tls_name, b.trust) for b in pool.backends] == [
        ("gpu1", "10.0.0.11:8880", "gpu1", (str(tmp_path / "tls" / "gpu1.crt"),)),
        ("gpu2", "10.0.0.12:9443", "gpu2", (str(tmp_path / "tls" / "gpu2.crt"),))]
    # The gateway's own verification: the backend's name, dialled at its address.
    assert backend_url(pool.backends[1], tls=True) == "https://gpu2:9443"
    assert backend_resolve(pool.backends[1]) == "gpu2:9443:10.0.0.12"
    assert backend_url(pool.backends[1], tls=False) == "http://10.0.0.12:9443"


def test_acme_and_provided_backends_trust_their_ca(secrets_path, tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    fleet = [("gw", {"auth_mode": "basic"}),
             ("gpu1", {"auth_mode": "bearer", "ssh_hostname": "10.0.0.11", "proxy_tls": "acme",
                       "proxy_public_url": "https://gpu1.example.com", "proxy_acme_ca_cert": str(ca)}),
             ("gpu2", {"auth_mode": "bearer", "ssh_hostname": "10.0.0.12", "proxy_tls": "acme",
                       "proxy_acme_names": ["gpu2.example.com", "x.example.com"]}),
             ("gpu3", {"auth_mode": "bearer", "ssh_hostname": "10.0.0.13", "proxy_tls": "acme",
                       "proxy_acme_names": ["gpu3.example.com"], "gateway_backend_ca": str(ca)})]
    pool = check_hosts(fleet, tmp_path, secrets_path, groups={**GROUPS, "gpu3": ["backend"]})["gw"].gateway.pool
    assert [(b.tls_name, b.trust) for b in pool.backends] == [
        ("gpu1.example.com", (str(ca),)), ("gpu2.example.com", (PUBLIC_CAS,)), ("gpu3.example.com", (str(ca),))]
    bundle = trust_bundle(pool)
    # Each file once, under a comment naming whose it is; the public CAs are certifi's.
    assert bundle.count(f"# gpu1: {ca}") == 1 and f"# gpu3: {ca}" not in bundle
    assert "# gpu2: public CAs" in bundle and bundle.count("BEGIN CERTIFICATE") > 100


def test_tls_backends_the_gateway_cannot_check_are_refused_naming_gateway_and_setting(secrets_path, tmp_path):
    fleet = [("gw", {"auth_mode": "basic"}),
             ("gpu1", {"auth_mode": "bearer", "ssh_hostname": "gpu1.lan", "proxy_tls": "self-signed"}),
             ("10.0.0.12", {"auth_mode": "bearer", "proxy_tls": "self-signed"}),
             ("gpu3", {"auth_mode": "bearer", "ssh_hostname": "10.0.0.13", "proxy_tls": "off"})]
    groups = {"gw": ["gateway"], "gpu1": ["backend"], "10.0.0.12": ["backend"], "gpu3": ["backend"]}
    with pytest.raises(ConfigError) as err:
        check_hosts(fleet, tmp_path, secrets_path, groups=groups)
    assert ("gw: proxy_tls: its backends differ (off on gpu3, TLS on gpu1, 10.0.0.12); the backends of one "
            "gateway all use TLS or none does") in str(err.value)
    with pytest.raises(ConfigError) as err:
        check_hosts(fleet[:3], tmp_path, secrets_path, groups=groups)
    text = str(err.value)
    assert "gw: gateway_backend_address: TLS backend 'gpu1' is reached at 'gpu1.lan'" in text
    assert "set gateway_backend_address (or ssh_hostname) of gpu1 to an IPv4 address" in text
    assert "gw: proxy_tls: backend '10.0.0.12' is self-signed and its inventory name is not a DNS name" in text
    provided = [("gw", {"auth_mode": "basic"}),
                ("gpu1", {"auth_mode": "bearer", "ssh_hostname": "10.0.0.11", "proxy_tls": "off"})]
    assert check_hosts(provided, tmp_path, secrets_path, groups=GROUPS)["gw"].gateway.pool.tls is False


def test_the_bundle_is_read_when_written_and_a_missing_fetched_certificate_fails_the_gateway(
        secrets_path, tmp_path):
    pool = check_hosts(TLS_FLEET, tmp_path, secrets_path, groups=GROUPS)["gw"].gateway.pool
    (tmp_path / "tls").mkdir()
    (tmp_path / "tls" / "gpu1.crt").write_text("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    with pytest.raises(TrustMissing, match=r"no certificate of backend gpu2 to trust at .*gpu2\.crt"):
        trust_bundle(pool)
    # Previewing a first deploy: the run fetches it before it writes the bundle.
    assert backend_trust_bundle(pool, executing=False) == TRUST_PREVIEW
    with pytest.raises(ContentUnavailable, match="deploy gpu2 "):
        backend_trust_bundle(pool, executing=True)
    (tmp_path / "tls" / "gpu2.crt").write_text("not a certificate\n")
    with pytest.raises(TrustMissing, match="holds no PEM certificate"):
        trust_bundle(pool)
    (tmp_path / "tls" / "gpu2.crt").write_text("-----BEGIN CERTIFICATE-----\nBBBB\n-----END CERTIFICATE-----\n")
    bundle = backend_trust_bundle(pool, executing=True)
    assert bundle.index("AAAA") < bundle.index("BBBB") and f"# gpu2: {tmp_path}/tls/gpu2.crt" in bundle


def test_a_provided_backend_is_checked_by_the_host_of_its_public_url():
    from ollama_gate.gateway import tls_name

    def provided(url):
        return SimpleNamespace(proxy_tls="provided", proxy_public_url=url)

    assert tls_name("gpu1", provided("https://gpu1.example.com:8443")) == ("gpu1.example.com", None)
    for url in ("https://10.0.0.11:8443", ""):
        name, why = tls_name("gpu1", provided(url))
        assert name == "" and why.startswith("proxy_public_url: backend 'gpu1' uses a provided certificate")
    assert tls_name("gpu1", SimpleNamespace(proxy_tls="acme", proxy_acme_names=(), proxy_public_url="")) == (
        "", "proxy_acme_names: backend 'gpu1' has no ACME name")


def test_a_replaced_certificate_is_trusted_only_in_the_transitional_bundle(secrets_path, tmp_path, monkeypatch):
    from ollama_gate import tls

    pool = check_hosts(TLS_FLEET, tmp_path, secrets_path, groups=GROUPS)["gw"].gateway.pool
    (tmp_path / "tls").mkdir()
    old, new = ("-----BEGIN CERTIFICATE-----\n%s\n-----END CERTIFICATE-----\n" % x for x in ("OLD1", "NEW1"))
    (tmp_path / "tls" / "gpu1.crt").write_text(new)
    (tmp_path / "tls" / "gpu2.crt").write_text("-----BEGIN CERTIFICATE-----\nB\n-----END CERTIFICATE-----\n")
    monkeypatch.setattr(tls, "REPLACED", {str(tmp_path / "tls" / "gpu1.crt"): old,
                                          str(tmp_path / "tls" / "gpu2.crt"): "not a certificate"})
    transitional = backend_trust_bundle(pool, executing=True, transitional=True)
    final = backend_trust_bundle(pool, executing=True)
    assert "OLD1" in transitional and "NEW1" in transitional and "# gpu1: its previous certificate" in transitional
    assert "OLD1" not in final and "NEW1" in final and final.count("BEGIN CERTIFICATE") == 2
    assert transitional.count("BEGIN CERTIFICATE") == 3  # gpu2's "previous" was no certificate
    # Nothing replaced (every other run): the two are the same file, so the second write changes nothing.
    monkeypatch.setattr(tls, "REPLACED", {})
    assert backend_trust_bundle(pool, executing=True, transitional=True) == final


def test_basic_backends_know_the_service_credential_by_a_user_name_of_its_value(secrets_path, tmp_path):
    import base64

    from ollama_gate import auth
    from ollama_gate.config import check_inventory
    from ollama_gate.secrets_file import rotate

    fleet = [(n, dict(d, auth_mode="basic") if n in ("gpu1", "gpu2") else d) for n, d in FLEET]
    check_hosts(fleet, tmp_path, secrets_path, groups=GROUPS)  # makes the service password
    old = load_secrets(secrets_path).users["ollama-gate-gateway"].reveal()
    rotate(secrets_path, "ollama-gate-gateway")
    checked = check_inventory(fleet, tmp_path, secrets_path, groups=GROUPS)
    configs, secrets = checked.configs, load_secrets(secrets_path)
    new = secrets.users["ollama-gate-gateway"].reveal()
    key = bytes.fromhex(secrets.installation_key.reveal())
    basic = auth.mode("basic")
    wire = basic.service_name("ollama-gate-gateway", new, key)
    assert wire.startswith("ollama-gate-gateway.") and wire != basic.service_name("ollama-gate-gateway", old, key)
    assert list(configs["gpu1"].credentials) == [wire] and configs["gpu1"].credentials[wire].reveal() == new
    header = configs["gw"].gateway.service.reveal()
    assert base64.b64decode(header.split()[1]).decode() == f"{wire}:{new}"
    assert configs["gw"].gateway.service.name == "ollama-gate-gateway"  # messages name the secrets entry
    # The old value must get 401 under both names it was ever presented by.
    refused = {(r.name, r.reveal()) for r in configs["gpu1"].refused if r.reveal() == old}
    assert refused == {("ollama-gate-gateway", old), (basic.service_name("ollama-gate-gateway", old, key), old)}
    assert configs["gpu1"].service_credential == "ollama-gate-gateway" and configs["gpu1"].gateway_name == "gw"
    # The access matrix still shows it accepted by the backends, with no "assigned to no host".
    row = next(line for line in checked.matrix if line.strip().startswith("ollama-gate-gateway "))
    assert row.split()[-4:] == ["-", "yes", "yes", "-"]
    assert not any("'ollama-gate-gateway'" in w and "no host" in w for w in checked.warnings)
