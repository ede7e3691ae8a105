"""A gateway's TLS to its backends, value by value (pure): the names certificates are checked
against, the addresses a TLS backend may have, the files trusted for each backend and the
bundle made of them, and how TLS backends show in the summary and the report."""

from __future__ import annotations

from dataclasses import replace

import pytest

from ollama_gate.checks import Check
from ollama_gate.gateway import (PUBLIC_CAS, Backend, Pool, TrustMissing, backends_report, pool_summary,
                                 service_auth_conf, tls_address_error, tls_name, trust_bundle, trust_paths)
from ollama_gate.secrets_file import Secret
from ollama_gate.settings import Settings

SELF = Settings(proxy_tls="self-signed")
LONGEST = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 61])  # 253 characters
PEM = "-----BEGIN CERTIFICATE-----\nMIIB{}\n-----END CERTIFICATE-----\n"


@pytest.mark.parametrize("name", ["g", "gpu1", "gpu1.lan", "gpu1.lan.", "GPU1.Example.com", LONGEST,
                                  "X10.0.0.1X"])
def test_self_signed_backends_named_like_hosts_are_checked_by_that_name(name):
    assert tls_name(name, SELF) == (name, None)


@pytest.mark.parametrize("name", ["", "gpu 1", ".gpu1", "gpu1..X", LONGEST + "d", "10.0.0.1", "[::1]"])
def test_self_signed_backends_not_named_like_hosts_are_refused_by_name(name):
    got, why = tls_name(name, SELF)
    assert got == "" and why.startswith(f"proxy_tls: backend {name!r} is self-signed and its inventory name is not")


def test_a_provided_certificate_is_checked_by_the_public_hosts_name_which_the_error_shows():
    provided = Settings(proxy_tls="provided")
    assert tls_name("gpu1", replace(provided, proxy_public_url="https://gpu1.example.com:8443")) == (
        "gpu1.example.com", None)
    assert tls_name("gpu1", replace(provided, proxy_public_url="https://10.0.0.5:8443"))[1].endswith(
        "(it is '10.0.0.5')")
    assert tls_name("gpu1", provided)[1].endswith("(it is 'not set')")


def test_a_tls_backend_at_anything_but_ipv4_is_refused_naming_that_host():
    assert tls_address_error("gpu1", "10.0.0.11:8880") is None
    for address, host in (("[2001:db8::1]:8880", "[2001:db8::1]"), ("gpu1.lan:8880", "gpu1.lan")):
        err = tls_address_error("gpu1", address)
        assert err.startswith(f"gateway_backend_address: TLS backend 'gpu1' is reached at {host!r}; "), err


def test_trusted_files_are_read_beside_the_inventory(tmp_path):
    def paths(**s):
        return trust_paths("gpu1", Settings(**s), tmp_path)

    assert paths(proxy_tls="self-signed", gateway_backend_ca="ca/backends.pem") == (str(tmp_path / "ca/backends.pem"),)
    assert paths(proxy_tls="self-signed") == (str(tmp_path / "tls" / "gpu1.crt"),)
    assert paths(proxy_tls="acme", proxy_acme_ca_cert="pebble.pem") == (str(tmp_path / "pebble.pem"),)
    assert paths(proxy_tls="acme") == (PUBLIC_CAS,)
    assert paths(proxy_tls="provided", proxy_tls_cert="certs/gpu1.pem") == (str(tmp_path / "certs/gpu1.pem"),
                                                                           PUBLIC_CAS)


def test_the_bundle_holds_each_trusted_file_once_under_whose_it_is(tmp_path):
    shared, own = tmp_path / "ca.pem", tmp_path / "gpu2.crt"
    shared.write_text(PEM.format("shared"))
    own.write_text(PEM.format("own"))
    pool = Pool(backends=(Backend("gpu1", "10.0.0.1:8880", trust=(str(shared),)),
                          Backend("gpu2", "10.0.0.2:8880", trust=(str(shared), str(own)))), tls=True)
    assert trust_bundle(pool) == (
        "# The certificates this gateway trusts its backends by (managed by ollama-gate).\n"
        f"# gpu1: {shared}\n{PEM.format('shared')}"
        f"# gpu2: {own}\n{PEM.format('own')}")
    public = trust_bundle(Pool(backends=(Backend("gpu1", "10.0.0.1:8880", trust=(PUBLIC_CAS,)),), tls=True))
    assert public.splitlines()[1] == "# gpu1: public CAs" and "BEGIN CERTIFICATE" in public


def test_a_missing_trusted_file_says_why_and_whose_it_is(tmp_path):
    missing = tmp_path / "tls" / "gpu1.crt"
    with pytest.raises(TrustMissing) as err:
        trust_bundle(Pool(backends=(Backend("gpu1", "10.0.0.1:8880", trust=(str(missing),)),), tls=True))
    assert str(err.value) == (f"gateway: no certificate of backend gpu1 to trust at {missing} (No such file or "
                              "directory); a self-signed backend's is fetched by its own deploy: deploy gpu1 "
                              "(it failed or was left out of this run)")


TLS_POOL = Pool(backends=(Backend("gpu1", "10.0.0.1:8443", 2, tls_name="gpu1.example.com"),), tls=True)


def test_tls_backends_show_their_name_in_the_summary_and_https_in_the_report():
    assert pool_summary(TLS_POOL, {"gpu1": "up"})[1] == "  gpu1: 10.0.0.1:8443 TLS as gpu1.example.com weight 2: up"
    ok = Check("gw", "credential-accepted", "svc", "GET", "/api/tags", "200", "200", True, "")
    assert backends_report(TLS_POOL, True, {"gpu1": [ok]})["gpu1"]["url"] == "https://gpu1.example.com:8443"


def test_a_service_credential_that_cannot_be_a_header_is_named_not_shown():
    with pytest.raises(ValueError) as err:
        service_auth_conf(Secret("svc", 'Bearer og_x"; return 200; #'))
    assert str(err.value) == "gateway: the service credential 'svc' cannot be sent as an Authorization header"
