"""HTTPS and config validity against a real nginx: every mode/TLS combination passes nginx -t."""

from __future__ import annotations

import http.client
import re
import shutil
import ssl
import subprocess
import tempfile
from pathlib import Path

import pytest

from ollama_gate.credentials import key_digest
from tests.integration.harness import NGINX, Gate, header_values, settings_for

KEY = "og_tls_test_key_0123456789abcdefghij"
KEYS_FILE = f"tls:{key_digest(KEY)}\n"
AUTH = {"Authorization": "Bearer " + KEY}


@pytest.fixture(scope="module")
def certificate():
    """A throwaway self-signed certificate for 127.0.0.1, as the deploy's self-signed mode makes."""
    if not shutil.which("openssl"):
        pytest.skip("openssl is not installed")
    with tempfile.TemporaryDirectory() as tmp:
        cert, key = Path(tmp, "cert.pem"), Path(tmp, "key.pem")
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
             "-keyout", str(key), "-out", str(cert)],
            check=True, capture_output=True, timeout=30,
        )
        yield {"cert.pem": cert.read_text(), "key.pem": key.read_text()}


def tls_gate(start_gate, certificate, **overrides):
    settings = settings_for("bearer", proxy_tls="provided", auth_fail_limit=1000, **overrides)
    return start_gate(settings, label="tls", credentials=KEYS_FILE, tls_files=certificate)


def client_context(certificate, tmp_path) -> ssl.SSLContext:
    cafile = tmp_path / "ca.pem"
    cafile.write_text(certificate["cert.pem"])
    return ssl.create_default_context(cafile=str(cafile))


def https_get(port, context, headers=None):
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=10)
    try:
        conn.request("GET", "/api/tags", headers=headers or {})
        response = conn.getresponse()
        response.read()
        return response.status, response.getheaders(), conn.sock.version()
    finally:
        conn.close()


def test_https_serves_tls13_with_hsts(start_gate, certificate, tmp_path, upstream):
    gate = tls_gate(start_gate, certificate)
    status, headers, version = https_get(gate.port, client_context(certificate, tmp_path), AUTH)
    assert status == 200
    assert version == "TLSv1.3"
    assert header_values(headers, "Strict-Transport-Security") == ["max-age=63072000"]
    assert "authorization" not in upstream.last()["header_names"]
    # Refusals carry HSTS too (no location overrides add_header).
    status, headers, _ = https_get(gate.port, client_context(certificate, tmp_path))
    assert status == 401
    assert header_values(headers, "Strict-Transport-Security") == ["max-age=63072000"]


def old_protocol_context(version: ssl.TLSVersion) -> ssl.SSLContext:
    """A client that offers only ``version`` (TLS 1.0 or 1.1), with OpenSSL's security level
    lowered so that the client side would complete such a handshake if the server agreed."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_ciphers("ALL:@SECLEVEL=0")
    context.minimum_version = version
    context.maximum_version = version
    return context


OLD_VERSIONS = [(ssl.TLSVersion.TLSv1, "TLSv1"), (ssl.TLSVersion.TLSv1_1, "TLSv1.1")]


@pytest.fixture(scope="module")
def permissive_gate(upstream, certificate):
    """The same config with TLS 1.0/1.1 switched on (and the server's security level lowered,
    without which OpenSSL 3 refuses them anyway): the control showing that the old clients
    below can connect when a server lets them, so their refusal by the product means something."""
    gate = Gate(settings_for("bearer", proxy_tls="provided", auth_fail_limit=1000), upstream.port,
                label="tls-permissive", credentials=KEYS_FILE, tls_files=certificate)
    conf = gate.conf_dir / "ollama-gate.conf"
    text, count = re.subn(r"\n    ssl_protocols [^;]*;\n", "\n    ssl_protocols TLSv1 TLSv1.1 TLSv1.2 TLSv1.3;\n"
                          "    ssl_conf_command CipherString ALL:@SECLEVEL=0;\n", conf.read_text())
    assert count == 1
    conf.write_text(text)
    gate.start()
    yield gate
    gate.cleanup()


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion:DeprecationWarning")
@pytest.mark.filterwarnings("ignore:ssl.PROTOCOL_TLS:DeprecationWarning")
@pytest.mark.parametrize("version,name", OLD_VERSIONS, ids=[n for _, n in OLD_VERSIONS])
def test_older_protocols_are_refused_by_the_server(start_gate, certificate, permissive_gate, version, name):
    # Control: this client completes a handshake with a server that allows the version.
    assert https_get(permissive_gate.port, old_protocol_context(version), AUTH)[2] == name
    gate = tls_gate(start_gate, certificate)
    with pytest.raises((ssl.SSLError, ConnectionError)):
        https_get(gate.port, old_protocol_context(version), AUTH)


def test_tls12_is_accepted(start_gate, certificate, tmp_path):
    gate = tls_gate(start_gate, certificate)
    context = client_context(certificate, tmp_path)
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    assert https_get(gate.port, context, AUTH)[2] == "TLSv1.2"


def test_plain_http_on_the_tls_port_is_refused(start_gate, certificate):
    gate = tls_gate(start_gate, certificate)
    conn = http.client.HTTPConnection("127.0.0.1", gate.port, timeout=5)
    conn.request("GET", "/api/tags", headers=AUTH)
    assert conn.getresponse().status == 400
    conn.close()


def test_hsts_can_be_turned_off(start_gate, certificate, tmp_path):
    gate = tls_gate(start_gate, certificate, proxy_hsts=False)
    status, headers, _ = https_get(gate.port, client_context(certificate, tmp_path), AUTH)
    assert status == 200
    assert header_values(headers, "Strict-Transport-Security") == []


@pytest.mark.parametrize("auth_mode", ["basic", "bearer"])
@pytest.mark.parametrize("tls", ["off", "self-signed", "provided", "acme"])
def test_every_combination_passes_nginx_t(upstream, certificate, auth_mode, tls):
    gate = Gate(settings_for(auth_mode, proxy_tls=tls), upstream.port, label="check",
                credentials="", tls_files=certificate)
    try:
        (gate.prefix / "tmp").mkdir()
        result = subprocess.run(
            [NGINX, "-t", "-p", str(gate.prefix), "-c", str(gate.prefix / "nginx.conf")],
            capture_output=True, text=True, timeout=20,
        )
        assert result.returncode == 0, result.stderr
        assert "[warn]" not in result.stderr, result.stderr
    finally:
        gate.cleanup()


def test_acme_http_listener_serves_challenges_and_redirects_everything_else(start_gate, certificate, upstream):
    """acme mode's port-80 server: the webroot's HTTP-01 answers as text, nothing else
    proxied (a redirect to the HTTPS port clients use), no way out of the webroot."""
    from tests.integration.harness import free_port, make_workdir, request, worker_readable_dir

    webroot = make_workdir("acme-webroot")
    challenge_dir = webroot / ".well-known" / "acme-challenge"
    challenge_dir.mkdir(parents=True)
    (challenge_dir / "tok3n_-A").write_text("tok3n_-A.thumbprint")
    for path in (webroot / ".well-known", challenge_dir):
        path.chmod(0o755)
    (challenge_dir / "tok3n_-A").chmod(0o644)
    http_port = free_port()
    settings = settings_for("basic", proxy_tls="acme", proxy_public_url="https://llm.example.com:9443")
    before = len(upstream.requests)
    try:
        gate = start_gate(settings, label="acme", credentials="", tls_files=certificate,
                          render_options={"http_port": http_port, "acme_webroot": str(webroot)})
        status, headers, body = request(http_port, path="/.well-known/acme-challenge/tok3n_-A")
        assert (status, body) == (200, b"tok3n_-A.thumbprint")
        assert header_values(headers, "Content-Type") == ["text/plain"]
        assert request(http_port, path="/.well-known/acme-challenge/missing")[0] == 404
        # Leaving the webroot: refused or sent to HTTPS, never a file.
        assert request(http_port, path="/.well-known/acme-challenge/../../nginx.conf")[0] in (301, 400)
        status, headers, _ = request(http_port, path="/api/tags?x=1")
        assert status == 301
        assert header_values(headers, "Location") == ["https://127.0.0.1:9443/api/tags?x=1"]
        assert len(upstream.requests) == before  # nothing reached Ollama from port 80
        # The HTTPS side is the usual proxy.
        status, _, _ = https_get(gate.port, _insecure())
        assert status == 401
    finally:
        shutil.rmtree(webroot, ignore_errors=True)


def _insecure() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context
