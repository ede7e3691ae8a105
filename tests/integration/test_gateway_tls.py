"""TLS between a gateway and its backends on a real nginx: each backend's certificate is
checked against what the gateway trusts and against that backend's own name.

The backends are RecordingUpstreams speaking TLS on 127.0.0.1 with certificates made here
(cryptography): "self-signed" ones as a backend's deploy makes them, an impostor's with the
right name but another key, and one backend presenting another backend's (trusted)
certificate. A backend whose certificate fails gets no request; the request goes on.
"""

from __future__ import annotations

import datetime
import signal
import ssl
import subprocess
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ollama_gate.facts.http import HttpProbes, curl_batch_config
from ollama_gate.gateway import Backend, Pool, backend_resolve, backend_url, service_auth_conf
from ollama_gate.secrets_file import Secret
from tests.integration import harness
from tests.integration.harness import request, settings_for
from tests.integration.test_gateway import ALICE, GENERATE, HTPASSWD, SERVICE


def make_cert(name: str) -> tuple[str, str]:
    """(certificate PEM, key PEM): self-signed for DNS:name, as a backend's deploy makes it."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return (cert.public_bytes(serialization.Encoding.PEM).decode(),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()).decode())


class TlsUpstream(harness.RecordingUpstream):
    """A RecordingUpstream behind TLS with a certificate that can be replaced (new
    handshakes get the new one). Handshakes happen in the request threads."""

    def __init__(self, cert: tuple[str, str], workdir: Path):
        super().__init__()
        self.workdir = workdir
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.use(cert)
        self.server.socket = self.context.wrap_socket(self.server.socket, server_side=True,
                                                      do_handshake_on_connect=False)

    def use(self, cert: tuple[str, str]) -> None:
        pem, key = self.workdir / f"{self.port}.crt", self.workdir / f"{self.port}.key"
        pem.write_text(cert[0])
        key.write_text(cert[1])
        self.context.load_cert_chain(pem, key)


NAMES = ("gpu-a", "gpu-b.lan")


@pytest.fixture(scope="module")
def certs():
    return {name: make_cert(name) for name in (*NAMES, "impostor")}


@pytest.fixture(scope="module")
def tls_backends(certs, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("tls-upstreams")
    servers = [TlsUpstream(certs[name], workdir).start() for name in NAMES]
    yield servers
    for server in servers:
        server.stop()


@pytest.fixture(autouse=True)
def own_certificates(tls_backends, certs):
    for server, name in zip(tls_backends, NAMES):
        server.use(certs[name])
        server.behavior = "ok"
    yield


@pytest.fixture(scope="module")
def start_tls_gateway(start_gate, tls_backends, certs):
    def start(trusted=NAMES, **pool_args):
        pool = Pool(backends=tuple(Backend(f"b{i}", f"127.0.0.1:{s.port}", tls_name=name)
                                   for i, (s, name) in enumerate(zip(tls_backends, NAMES))),
                    tls=True, trusted_certs="".join(certs[n][0] for n in trusted), **pool_args)
        gate = start_gate(settings_for("basic", auth_fail_limit=1000), label="gateway-tls", credentials=HTPASSWD,
                          pool=pool, service_auth=service_auth_conf(Secret("gateway-service", SERVICE)))
        gate.pool = pool
        return gate

    return start


def counts(servers):
    return [s.count() for s in servers]


def test_tls_backends_are_verified_and_get_the_service_credential(start_tls_gateway, tls_backends):
    gate = start_tls_gateway()
    before = counts(tls_backends)
    for _ in range(8):
        assert request(gate.port, "POST", "/api/generate", headers=ALICE, body=GENERATE)[0] == 200
    got = [n - m for n, m in zip(counts(tls_backends), before)]
    assert got == [4, 4], got
    assert tls_backends[0].last()["headers"]["authorization"] == SERVICE
    assert "verify error" not in gate.error_log()


@pytest.mark.parametrize("case", ["untrusted certificate", "another backend's certificate"])
def test_a_backend_failing_the_check_gets_no_request_and_requests_go_on(start_tls_gateway, tls_backends,
                                                                        certs, case):
    good, bad = tls_backends
    # untrusted: its name, but a key the gateway does not trust (replaced, or an impostor);
    # another's: a certificate the gateway trusts, but for gpu-a, not for this backend.
    bad.use(make_cert(NAMES[1]) if case == "untrusted certificate" else certs[NAMES[0]])
    gate = start_tls_gateway(max_fails=1, fail_timeout=30)
    before = counts(tls_backends)
    statuses = [request(gate.port, "POST", "/api/generate", headers=ALICE, body=GENERATE)[0] for _ in range(6)]
    # The handshake failed before any byte of the request was sent: it went to the other one.
    assert statuses == [200] * 6
    assert counts(tls_backends) == [before[0] + 6, before[1]]
    log = gate.error_log()
    if case == "untrusted certificate":
        assert "upstream SSL certificate verify error: (18:self-signed certificate)" in log \
            or "upstream SSL certificate verify error: (18:self signed certificate)" in log, log[-2000:]
    else:
        assert 'upstream SSL certificate does not match "gpu-b.lan"' in log, log[-2000:]
    # Marked failed (max_fails=1): tried once, not for every request.
    assert log.count("upstream SSL certificate") == 1


def test_no_trusted_backend_is_a_502_never_an_unverified_answer(start_tls_gateway, tls_backends, certs):
    gate = start_tls_gateway(trusted=("impostor",))
    before = counts(tls_backends)
    assert request(gate.port, headers=ALICE)[0] == 502
    assert request(gate.port, "POST", "/api/generate", headers=ALICE, body=GENERATE)[0] == 502
    assert counts(tls_backends) == before


def test_a_new_certificate_is_trusted_after_the_bundle_changes_and_a_reload(start_tls_gateway, tls_backends,
                                                                             certs):
    renewed = make_cert(NAMES[1])
    tls_backends[1].use(renewed)
    gate = start_tls_gateway(max_fails=100, fail_timeout=1)
    before = counts(tls_backends)
    for _ in range(4):
        assert request(gate.port, headers=ALICE)[0] == 200
    assert counts(tls_backends)[1] == before[1]
    # The deploy rewrites the bundle with the fetched certificate and reloads (SIGHUP).
    harness.worker_readable(gate.conf_dir / "backends-ca.pem", certs[NAMES[0]][0] + renewed[0])
    gate.process.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while counts(tls_backends)[1] == before[1] and time.monotonic() < deadline:
        assert request(gate.port, headers=ALICE)[0] == 200
        time.sleep(0.1)
    assert counts(tls_backends)[1] > before[1]


@pytest.mark.parametrize("case, exit_code", [("own", 0), ("untrusted certificate", 60),
                                             ("another backend's certificate", 60)])
def test_the_gateways_curl_checks_a_backend_by_its_name_at_its_address(start_tls_gateway, tls_backends, certs,
                                                                       tmp_path, case, exit_code):
    """What the gateway's verification asks (HttpProbes with cacert and resolve), run here."""
    if case == "untrusted certificate":
        tls_backends[1].use(make_cert(NAMES[1]))
    elif case != "own":
        tls_backends[1].use(certs[NAMES[0]])
    bundle = tmp_path / "backends-ca.pem"
    bundle.write_text("".join(certs[n][0] for n in NAMES))
    backend = Backend("b1", f"127.0.0.1:{tls_backends[1].port}", tls_name=NAMES[1])
    stdin = curl_batch_config([("GET", backend_url(backend, True) + "/api/tags", None, 10, False, SERVICE,
                                str(bundle), backend_resolve(backend))])
    out = subprocess.run(HttpProbes().command(["GET /api/tags"]), shell=True, input=stdin.getvalue(),
                         capture_output=True, text=True, timeout=30)
    [answer] = HttpProbes().process(out.stdout.splitlines())
    assert answer["curl_exit"] == exit_code, out.stderr
    assert answer["status"] == (200 if exit_code == 0 else 0)
