"""check_inventory's wiring: what each host's checked config holds (a gateway's pool and
service credential, its backends, the values that must get 401, revoked names), that every
problem of every host is reported at once, and that the secrets file is written only when
the check needs it to be."""

from __future__ import annotations

import base64
import datetime as dt

import pytest

from ollama_gate import auth
from ollama_gate.config import check_hosts, check_inventory
from ollama_gate.gateway import Backend, Pool
from ollama_gate.secrets_file import load_secrets
from ollama_gate.settings import ConfigError

ALICE = "Xq7vLp2Rk9tZw4Nc8HjB3sDf6G"
BOB = "Hm4tQw9Zr2Lk7Vc5Nx8Bp3Jd6F"
CAROL = "Pw8sN3kT6vR1xZ4mQ7cL2bJ5hD"
OLD = "Kd3sN8kT6vR1xZ4mQ7cL2bJ5hQ"
CI = "og_Qm7vX2pLk9RtZ4wNc8HjB3sDf6GyA1eU5oIi0"
KEY = 'installation_key: "' + "ab" * 32 + '"\n'
NOW = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.timezone.utc)


def write(tmp_path, text):
    path = tmp_path / "secrets.yml"
    path.write_text(text)
    return path


def errors_of(*args, **kwargs) -> list[str]:
    with pytest.raises(ConfigError) as err:
        check_inventory(*args, **kwargs)
    return err.value.errors


# --- A gateway with one backend: pool, service credential, backends -----------------

def test_a_one_backend_gateway_is_wired_from_its_settings(tmp_path):
    """Pool values from the gateway's own settings (not the Pool defaults), the address of
    a backend pyinfra knows only by name, a Basic service header carrying the user name of
    that value (auth.basic service_name: one user name per value, so a rotation can keep the
    previous one beside it)."""
    path = write(tmp_path, f"users:\n  alice: {ALICE}\nkeys:\n  ci: {CI}\n")
    hosts = [("gw", {"auth_mode": "bearer", "gateway_backends": ["gpu1"], "gateway_max_fails": 3,
                     "gateway_fail_timeout": 30, "gateway_connect_timeout": 7}),
             ("gpu1", {"auth_mode": "basic", "gateway_weight": 2})]
    configs = check_inventory(hosts, tmp_path, path, groups={"gw": ["gateway"]}, now=NOW).configs

    secrets = load_secrets(path)
    assert list(secrets.users) == ["alice", "ollama-gate-gateway"]  # the backend's section
    value = secrets.users["ollama-gate-gateway"].reveal()
    gw, gpu1 = configs["gw"], configs["gpu1"]
    assert gw.gateway.pool == Pool(backends=(Backend("gpu1", "gpu1:8880", 2),), max_fails=3, fail_timeout=30,
                                   connect_timeout=7)
    user = auth.mode("basic").service_name("ollama-gate-gateway", value, bytes.fromhex(
        secrets.installation_key.reveal()))
    assert user.startswith("ollama-gate-gateway.")
    assert gw.gateway.service.name == "ollama-gate-gateway"
    assert gw.gateway.service.reveal() == "Basic " + base64.b64encode(f"{user}:{value}".encode()).decode()
    assert gw.gateway.backends == (gpu1,)
    assert (gw.role, gpu1.role) == ("gateway", "backend")
    assert {n: s.reveal() for n, s in gpu1.credentials.items()} == {user: value}
    assert gpu1.credentials[user].name == user  # the name the backend's file holds
    assert list(gw.credentials) == ["ci"]
    # Only a backend has a gateway and a service credential to accept.
    assert (gpu1.gateway_name, gpu1.service_credential) == ("gw", "ollama-gate-gateway")
    assert (gw.gateway_name, gw.service_credential) == ("", "")


def test_service_credentials_are_made_for_every_gateway_under_the_hosts_own_minimum(tmp_path):
    """Two gateways, the first one's credential already there; passwords shorter than the
    default minimum but as long as the hosts' own auth_password_min_length."""
    short = "Xq7vLp2Rk9tZw4"  # 14 characters
    path = write(tmp_path, f"users:\n  alice: {short}\n  svc-a: Hm4tQw9Zr2Lk7V\n")
    common = {"auth_password_min_length": 12}
    hosts = [("gw-a", dict(common, gateway_backends=["a1"], gateway_service_credential="svc-a")),
             ("gw-b", dict(common, gateway_backends=["b1"], gateway_service_credential="svc-b")),
             ("a1", common), ("b1", common)]
    configs = check_hosts(hosts, tmp_path, path, groups={"gw-a": ["gateway"], "gw-b": ["gateway"]})
    users = load_secrets(path, 12).users
    assert sorted(users) == ["alice", "svc-a", "svc-b"] and users["svc-a"].reveal() == "Hm4tQw9Zr2Lk7V"
    # Basic backends know each value by a user name of its own: "<name>.<8 hex>".
    assert [n.split(".")[0] for n in configs["a1"].credentials] == ["svc-a"]
    assert [n.split(".")[0] for n in configs["b1"].credentials] == ["svc-b"]
    assert configs["a1"].credentials[next(iter(configs["a1"].credentials))].reveal() == "Hm4tQw9Zr2Lk7V"
    assert list(configs["gw-a"].credentials) == ["alice"]


def test_service_names_under_the_wrong_section_are_each_an_error_naming_the_file(tmp_path):
    path = write(tmp_path, f"users:\n  alice: {ALICE}\n  bob: {BOB}\nkeys:\n  ci: {CI}\n")
    hosts = [("gw-a", {"gateway_backends": ["a1"], "gateway_service_credential": "alice"}),
             ("gw-b", {"gateway_backends": ["b1"], "gateway_service_credential": "bob"}),
             ("a1", {"auth_mode": "bearer"}), ("b1", {"auth_mode": "bearer"})]
    errors = errors_of(hosts, tmp_path, path, groups={"gw-a": ["gateway"], "gw-b": ["gateway"]})
    assert errors == [f"{gw}: gateway_service_credential: {name!r} is under 'users:' in {str(path)!r} but its "
                      "backends use 'keys:'; remove it or choose another name"
                      for gw, name in (("gw-a", "alice"), ("gw-b", "bob"))]


def test_a_section_holding_only_service_credentials_has_no_client_for_other_hosts(tmp_path):
    path = write(tmp_path, f"users:\n  alice: {ALICE}\nkeys: {{}}\n")
    hosts = [("gw", {"gateway_backends": ["gpu1"]}), ("gpu1", {"auth_mode": "bearer"}),
             ("solo", {"auth_mode": "bearer"})]
    errors = errors_of(hosts, tmp_path, path, groups={"gw": ["gateway"]})
    assert errors == [f"solo: auth_mode: 'bearer' needs at least one client entry under 'keys:' in "
                      f"{str(path)!r} (service credentials of gateways do not count)"]


def test_a_backend_that_fails_its_own_check_is_an_error_not_a_crash(tmp_path):
    path = write(tmp_path, f"users:\n  alice: {ALICE}\n")
    hosts = [("gw", {"gateway_backends": ["gpu1"]}),
             ("gpu1", {"gateway_accept_clients": True, "auth_credentials": ["nobody"]})]
    errors = errors_of(hosts, tmp_path, path, groups={"gw": ["gateway"]})
    assert len(errors) == 1 and errors[0].startswith("gpu1: auth_credentials: 'nobody' not found under 'users:'")


# --- Revoked names and the values that must get 401 ----------------------------------

def test_a_host_accepting_every_entry_revokes_the_expired_and_refuses_retired_and_expired(tmp_path):
    path = write(tmp_path, KEY + f"users:\n  alice: {ALICE}\n  carol: {{value: {CAROL}, expires: 2026-11-01}}\n"
                 f"retired:\n  old: [{OLD}]\n")
    cfg = check_inventory([("h1", {})], tmp_path, path, now=NOW).configs["h1"]
    assert list(cfg.credentials) == ["alice"]
    assert cfg.revoked == ("carol",)
    assert [(s.name, s.reveal()) for s in cfg.refused] == [("old", OLD), ("carol", CAROL)]
    assert (cfg.role, cfg.gateway_name, cfg.service_credential) == ("endpoint", "", "")


def test_expiry_is_judged_at_the_given_moment(tmp_path):
    path = write(tmp_path, KEY + f"users:\n  alice: {ALICE}\n  carol: {{value: {CAROL}, expires: 2028-01-01}}\n")
    later = dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)
    cfg = check_inventory([("h1", {})], tmp_path, path, now=later).configs["h1"]
    assert (list(cfg.credentials), cfg.revoked) == (["alice"], ("carol",))


def test_without_a_given_moment_expiry_is_judged_now_in_utc(tmp_path):
    path = write(tmp_path, KEY + f"users:\n  alice: {ALICE}\n  carol: {{value: {CAROL}, expires: 2020-01-01}}\n"
                 f"  bob: {{value: {BOB}, expires: 2999-01-01}}\n")
    cfg = check_hosts([("h1", {})], tmp_path, path)["h1"]
    assert (list(cfg.credentials), cfg.revoked) == (["alice", "bob"], ("carol",))


def test_passwords_are_held_to_the_hosts_minimum_and_to_the_default_without_hosts(tmp_path):
    path = write(tmp_path, KEY + f"users:\n  alice: {ALICE}\n")  # 26 characters
    errors = errors_of([("h1", {"auth_password_min_length": 30})], tmp_path, path, now=NOW)
    assert errors == ["secrets file 'users': the password of 'alice' is shorter than auth_password_min_length "
                      "(30); make one with: python -m ollama_gate rotate alice"]
    twenty = write(tmp_path, KEY + "users:\n  alice: Xq7vLp2Rk9tZw4Nc8HjB\n")
    assert check_inventory([], tmp_path, twenty, now=NOW).configs == {}
    twenty.write_text(KEY + "users:\n  alice: Xq7vLp2Rk9tZw4Nc8Hj\n")
    assert "(20)" in errors_of([], tmp_path, twenty, now=NOW)[0]


# --- Every problem at once, nothing written when the check fails --------------------

def test_every_host_and_the_secrets_file_are_reported_together(tmp_path):
    path = write(tmp_path, "users: [broken\n")
    errors = errors_of([("h1", {"proxy_port": 0}), ("h2", {"auth_mode": "nope"})], tmp_path, path, now=NOW)
    assert [e.split(":")[0] for e in errors] == ["h1", "h2", "OLLAMA_GATE_SECRETS"]


def test_credential_problems_of_every_host_are_reported_together(tmp_path):
    path = write(tmp_path, KEY + f"users:\n  alice: {ALICE}\n")
    errors = errors_of([("h1", {"auth_credentials": ["ann"]}), ("h2", {"auth_credentials": ["bo"]}),
                        ("h3", {"verify_report": "/etc/hostname/report.json"})], tmp_path, path, now=NOW)
    assert [e.split(": ")[:2] for e in errors] == [["h1", "auth_credentials"], ["h2", "auth_credentials"],
                                                   ["h3", "verify_report"]]
    assert errors[2] == ("h3: verify_report: cannot write the report to '/etc/hostname/report.json': "
                         "'/etc/hostname' is not a directory")


def test_the_installation_key_is_added_only_when_a_host_needs_it_and_the_check_passes(tmp_path):
    text = f"users:\n  alice: {ALICE}\nkeys:\n  ci: {CI}\n"
    path = write(tmp_path, text)
    errors_of([("h1", {}), ("h2", {"proxy_port": 0})], tmp_path, path, now=NOW)
    assert path.read_text() == text  # a bad setting elsewhere: nothing written
    check_inventory([("h1", {"auth_mode": "bearer"})], tmp_path, path, now=NOW)
    assert path.read_text() == text  # bearer salts nothing
    check_inventory([("h1", {})], tmp_path, path, now=NOW)
    assert path.read_text().startswith(text) and load_secrets(path).installation_key is not None


def test_relative_local_paths_resolve_against_the_inventorys_directory(tmp_path, monkeypatch):
    (tmp_path / "ca.pem").write_text("not checked here\n")
    path = write(tmp_path, KEY + f"users:\n  alice: {ALICE}\n")
    monkeypatch.chdir("/")
    data = {"proxy_tls": "acme", "proxy_acme_names": ["gpu1.example.com"], "proxy_acme_ca_cert": "ca.pem",
            "proxy_http_port": 8081}
    assert check_hosts([("h1", data)], tmp_path, path)["h1"].settings.proxy_acme_ca_cert == "ca.pem"


@pytest.mark.parametrize("mode", ["basic", "bearer"])
def test_a_backend_holds_its_service_credential_until_the_expiry_the_secrets_file_gives(tmp_path, mode):
    """A service credential given an expiry (``ollama-gate rotate NAME --expires 30d``) keeps it
    on the backend: its access matrix shows the date, and a Bearer backend's keys file carries
    it, so the backend itself refuses the key from then on, as the secrets file says."""
    section, value = ("users", ALICE) if mode == "basic" else ("keys", CI)
    other = BOB if mode == "basic" else "og_" + "Zr2Lk7Vc5Nx8Bp3Jd6FHm4tQw9" + "ab12cd34ef56"
    path = write(tmp_path, KEY + f"{section}:\n  client: {other}\n"
                 f"  svc: {{value: {value}, expires: 2027-03-01}}\n")
    hosts = [("gw", {"auth_mode": mode, "gateway_backends": ["gpu1"], "gateway_service_credential": "svc"}),
             ("gpu1", {"auth_mode": mode})]
    gpu1 = check_inventory(hosts, tmp_path, path, groups={"gw": ["gateway"]}, now=NOW).configs["gpu1"]
    expiry = dt.datetime(2027, 3, 1, tzinfo=dt.timezone.utc)
    (held,) = gpu1.credentials.values()
    assert (held.reveal(), held.expires) == (value, expiry)
    if mode == "bearer":
        keys_file = auth.mode("bearer").render_credentials(gpu1.credentials, gpu1.settings, key=b"")
        assert keys_file.splitlines()[-1].endswith(f":{int(expiry.timestamp())}")
