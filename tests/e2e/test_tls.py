"""HTTPS that clients trust, on real lab hosts.

Self-signed: the certificate names proxy_public_url's host (an IP entry for 127.0.0.1),
the inventory name and the FQDN; the deploy fetches it to tls/<host>.crt and prints its
fingerprint; curl --cacert and the ollama and openai Python clients, configured as the
README's "Clients" section says, verify the endpoint with that file and nothing else.

ACME: Pebble (Let's Encrypt's test CA, Debian package) runs on this machine for the lab
(lab/pebble.py), validates HTTP-01 for real against the lab host's proxy on port 80, and a
client that trusts only Pebble's root verifies the endpoint. Then a zero-change rerun, a
forced renewal under a bounded request loop, and the CA going down. The ACME tests run in
file order on one host (each builds on the state the previous one left); the module puts
the host back to plain HTTP at its end.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path

import pytest

from ollama_gate import PROJECT_DIR
from ollama_gate.tls import trust_file

from . import faults
from .conftest import deploy, ssh
from .test_deploy import credential, host_of_mode

# --- helpers ---------------------------------------------------------------------------


def curl_status(url: str, header: str, *extra: str) -> tuple[int, str]:
    """curl's exit code and HTTP status for GET url; the credential goes on stdin (-K -)."""
    proc = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "20",
                           *extra, "-K", "-", url],
                          input=f'header = "Authorization: {header}"\n', capture_output=True, text=True,
                          timeout=60)
    return proc.returncode, proc.stdout + proc.stderr


def header_of(mode: str, name: str, value: str) -> str:
    from .helpers import auth_header
    return auth_header(mode, name, value)


class PinnedHTTPS(http.client.HTTPSConnection):
    """HTTPS to 127.0.0.1:port while verifying the certificate for ``name`` (curl --resolve)."""

    def connect(self):
        sock = socket.create_connection(("127.0.0.1", self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def https_status(name: str, port: int, context: ssl.SSLContext, header: str) -> int:
    conn = PinnedHTTPS(name, port, context=context, timeout=10)
    try:
        conn.request("GET", "/api/tags", headers={"Authorization": header, "Connection": "close"})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def served_fingerprint(port: int, name: str = "localhost") -> str:
    """SHA-256 of the certificate the proxy on 127.0.0.1:port serves now (AB:CD:... form)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        with context.wrap_socket(sock, server_hostname=name) as tls_sock:
            der = tls_sock.getpeercert(binary_form=True)
    return ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())


def file_fingerprint(path: Path) -> str:
    der = ssl.PEM_cert_to_DER_cert(path.read_text())
    return ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())


def san_of(path: Path) -> str:
    return subprocess.run(["openssl", "x509", "-in", str(path), "-noout", "-ext", "subjectAltName"],
                          capture_output=True, text=True, check=True).stdout


def summary_value(output: str, host: str, label: str) -> str:
    m = re.search(rf"\[{re.escape(host)}\]\s+{label}:\s+(.*)", output)
    assert m, f"no {label!r} line for {host} in the summary"
    return m.group(1).strip()


def proxy_started_at(lab, index: int) -> str:
    return ssh(lab, index, "docker inspect -f '{{.State.StartedAt}}' ollama-gate-proxy").stdout.strip()


# --- self-signed -------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["basic", "bearer"])
def test_self_signed_is_verified_by_curl_ollama_and_openai_with_the_fetched_file(deployed, mode):
    lab = deployed["lab"]
    index, host = host_of_mode(lab, mode)
    name, value = credential(lab, host)
    port = host["proxy_port"]
    url = f"https://127.0.0.1:{port}"
    data = ["--limit", host["name"], "--data", "proxy_tls=self-signed", "--data", f"proxy_public_url={url}"]
    local = trust_file(host["name"], PROJECT_DIR)
    local.unlink(missing_ok=True)
    try:
        first = deploy(*data)
        assert first.returncode == 0, first.output[-4000:]

        # The fetched file is the served certificate, and names what clients use.
        assert local.is_file()
        assert file_fingerprint(local) == served_fingerprint(port)
        fqdn = ssh(lab, index, "hostname -f 2>/dev/null || hostname").stdout.strip()
        san = san_of(local)
        for entry in ("IP Address:127.0.0.1", f"DNS:{host['name']}", f"DNS:{fqdn}"):
            assert entry in san, san
        # The summary says where the file is and its fingerprint.
        assert summary_value(first.output, host["name"], "SHA-256") == file_fingerprint(local)
        assert summary_value(first.output, host["name"], "Trust file").startswith(str(local))
        assert summary_value(first.output, host["name"], "TLS").startswith("self-signed")

        header = header_of(mode, name, value)
        # What the README tells Python clients to pass as verify=.
        trusted = ssl.create_default_context(cafile=str(local))
        # curl: refused without the file (no -k anywhere), 200 with it.
        code, out = curl_status(url + "/api/tags", header)
        assert code == 60, out  # SSL certificate problem
        assert curl_status(url + "/api/tags", header, "--cacert", str(local)) == (0, "200")

        # The Python clients, configured as the README's Clients section says.
        import ollama
        import openai

        if mode == "basic":
            client = ollama.Client(host=url, verify=trusted, auth=(name, value))
            oa = openai.OpenAI(base_url=f"{url}/v1", api_key="unused",
                               http_client=openai.DefaultHttpxClient(verify=trusted, auth=(name, value)))
        else:
            client = ollama.Client(host=url, verify=trusted, headers={"Authorization": f"Bearer {value}"})
            oa = openai.OpenAI(base_url=f"{url}/v1", api_key=value,
                               http_client=openai.DefaultHttpxClient(verify=trusted))
            # OLLAMA_API_KEY is the ollama client's own way to send a Bearer key.
            os.environ["OLLAMA_API_KEY"] = value
            try:
                from_env = ollama.Client(host=url, verify=trusted)
            finally:
                del os.environ["OLLAMA_API_KEY"]
            assert "gemma3:1b" in [m.model for m in from_env.list().models]
        assert "gemma3:1b" in [m.model for m in client.list().models]
        assert "gemma3:1b" in [m.id for m in oa.models.list().data]
        reply = oa.chat.completions.create(model="gemma3:1b", messages=[{"role": "user", "content": "hi"}],
                                           max_tokens=8)
        assert reply.choices[0].message.content
        # Without the file the client refuses the certificate (the ollama client words it
        # "Failed to connect to Ollama"; the cause is the failed verification).
        with pytest.raises(Exception) as refused:
            ollama.Client(host=url, headers={"Authorization": header}).list()
        causes, error = [], refused.value
        while error is not None and len(causes) < 10:
            causes.append(repr(error))
            error = error.__cause__ or error.__context__
        assert "CERTIFICATE_VERIFY_FAILED" in " ".join(causes), causes

        # Kept: a rerun changes nothing and fetches nothing.
        fingerprint = file_fingerprint(local)
        again = deploy(*data)
        assert again.returncode == 0 and again.changed() == {}, again.changed()

        # Changing the names re-issues it, and the new file is fetched.
        renamed = [*data[:-1], f"proxy_public_url=https://localhost:{port}"]
        changed = deploy(*renamed)
        assert changed.returncode == 0, changed.output[-4000:]
        assert file_fingerprint(local) != fingerprint
        assert file_fingerprint(local) == served_fingerprint(port)
        assert "DNS:localhost" in san_of(local)
        assert curl_status(f"https://localhost:{port}/api/tags", header, "--cacert", str(local)) == (0, "200")
    finally:
        off = deploy("--limit", host["name"])
    assert off.returncode == 0, off.output[-3000:]


# --- ACME against Pebble --------------------------------------------------------------


@pytest.fixture(scope="module")
def acme(deployed, tmp_path_factory):
    """Pebble for the lab, names for the bearer host in its mock DNS, and that host's
    deploy arguments; afterwards the host goes back to plain HTTP and Pebble stops."""
    from lab.pebble import Pebble, host_address

    lab = deployed["lab"]
    index, host = host_of_mode(lab, "bearer")
    pebble = Pebble(tmp_path_factory.mktemp("pebble")).start()
    try:
        address = host_address(host["name"])
        fqdn = f"{host['name']}.lab.test"
        pebble.add_name(fqdn, address)
        pebble.add_name(f"alt-{fqdn}", address)
        root = tmp_path_factory.mktemp("pebble-root") / "root.pem"
        root.write_text(pebble.root())
        # Pebble forgets its accounts on every start: certbot must not reuse one it made
        # with an earlier Pebble on this (reused) lab host.
        ssh(lab, index, "rm -rf /etc/letsencrypt")
        port = host["proxy_port"]

        def data(name=fqdn):
            return ["--limit", host["name"], "--data", "proxy_tls=acme",
                    "--data", f"proxy_public_url=https://{name}:{port}",
                    "--data", f"proxy_acme_directory={pebble.directory}",
                    "--data", f"proxy_acme_ca_cert={pebble.listener_cert}",
                    "--data", "proxy_acme_email=ops@lab.test"]

        name, value = credential(lab, host)
        context = ssl.create_default_context(cafile=str(root))
        yield {"lab": lab, "index": index, "host": host, "pebble": pebble, "root": root, "fqdn": fqdn,
               "port": port, "address": address, "data": data, "header": f"Bearer {value}", "context": context}
    finally:
        try:
            off = deploy("--limit", host["name"])
            assert off.returncode == 0, off.output[-3000:]
            assert ssh(lab, index, "test -e /etc/letsencrypt/renewal/ollama-gate.conf && echo kept || echo gone"
                       ).stdout.strip() == "gone"
        finally:
            pebble.stop()


def validations(pebble) -> int:
    return pebble.log_tail(100000).count("Attempting to validate w/ HTTP")


def test_acme_first_issuance_is_verified_with_pebbles_root(acme):
    a = acme
    run = deploy(*a["data"]())
    assert run.returncode == 0, run.output[-4000:] + "\n--- pebble ---\n" + a["pebble"].log_tail()
    # Pebble really validated HTTP-01 on port 80 of the lab host's name.
    assert f"Attempting to validate w/ HTTP: http://{a['fqdn']}:80/.well-known/acme-challenge/" in \
        a["pebble"].log_tail(200)
    url = f"https://{a['fqdn']}:{a['port']}/api/tags"
    resolve = f"{a['fqdn']}:{a['port']}:127.0.0.1"
    assert curl_status(url, a["header"], "--cacert", str(a["root"]), "--resolve", resolve) == (0, "200")
    assert https_status(a["fqdn"], a["port"], a["context"], a["header"]) == 200
    # The summary names the mode and the served certificate.
    assert summary_value(run.output, a["host"]["name"], "TLS").startswith("ACME (https://")
    assert summary_value(run.output, a["host"]["name"], "SHA-256") == served_fingerprint(a["port"], a["fqdn"])
    # Port 80 (the lab host's, on the lab's bridge) redirects everything but challenges.
    redirect = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}",
                               "--max-time", "10", "-H", f"Host: {a['fqdn']}", f"http://{a['address']}:80/api/tags"],
                              capture_output=True, text=True, timeout=30).stdout
    assert redirect == f"301 https://{a['fqdn']}:{a['port']}/api/tags"
    # certbot's timer will renew it.
    assert ssh(a["lab"], a["index"], "systemctl is-active certbot.timer").stdout.strip() == "active"


def test_acme_rerun_changes_nothing_and_asks_the_ca_nothing(acme):
    before = validations(acme["pebble"])
    run = deploy(*acme["data"]())
    assert run.returncode == 0 and run.changed() == {}, run.changed()
    assert validations(acme["pebble"]) == before


def test_acme_forced_renewal_reloads_the_proxy_without_a_failed_request(acme):
    a = acme
    old = served_fingerprint(a["port"], a["fqdn"])
    started = proxy_started_at(a["lab"], a["index"])
    # certbot's own renewal (what its timer runs): not due, so no new certificate and no hook.
    ssh(a["lab"], a["index"], "certbot renew --no-random-sleep-on-renew -q", timeout=180)
    assert served_fingerprint(a["port"], a["fqdn"]) == old

    results: list[int] = []
    stop = threading.Event()

    def loop():
        deadline = time.monotonic() + 240
        while not stop.is_set() and len(results) < 20000 and time.monotonic() < deadline:
            try:
                results.append(https_status(a["fqdn"], a["port"], a["context"], a["header"]))
            except (OSError, ssl.SSLError, http.client.HTTPException) as e:
                results.append(-1)
                print("request failed:", e)

    threads = [threading.Thread(target=loop, daemon=True) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        time.sleep(1)
        renewal = ssh(a["lab"], a["index"], "certbot renew --force-renewal --no-random-sleep-on-renew "
                      "--cert-name ollama-gate 2>&1", timeout=240)
        assert renewal.returncode == 0, renewal.stdout[-3000:]
        deadline = time.monotonic() + 30
        while served_fingerprint(a["port"], a["fqdn"]) == old and time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(1)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
    failed = [r for r in results if r != 200]
    print(f"forced renewal: {len(results)} requests, {len(failed)} failed")
    assert len(results) > 20
    assert failed == []
    assert served_fingerprint(a["port"], a["fqdn"]) != old  # the hook put the new one in place
    assert proxy_started_at(a["lab"], a["index"]) == started  # reloaded, not restarted
    rerun = deploy(*a["data"]())
    assert rerun.returncode == 0 and rerun.changed() == {}, rerun.changed()


def test_acme_ca_down_fails_that_host_clearly_and_the_certificate_keeps_serving(acme, request):
    a = acme
    served = served_fingerprint(a["port"], a["fqdn"])
    a["pebble"].stop_ca()
    # A valid certificate needs no CA: the rerun still changes nothing.
    unchanged = deploy(*a["data"]())
    assert unchanged.returncode == 0 and unchanged.changed() == {}, unchanged.output[-3000:]
    # New names need the CA, which is down.
    start = time.monotonic()
    run = deploy(*a["data"](f"alt-{a['fqdn']}"))
    took = time.monotonic() - start
    assert run.returncode != 0
    assert (f"proxy_tls acme: certbot could not get a certificate for alt-{a['fqdn']} from "
            f"{a['pebble'].directory} (the names changed") in run.output
    assert "the proxy keeps serving its current certificate" in run.output
    assert re.search(r"(?i)connection refused|max retries|failed to establish", run.output), run.output[-3000:]
    assert served_fingerprint(a["port"], a["fqdn"]) == served
    assert https_status(a["fqdn"], a["port"], a["context"], a["header"]) == 200
    faults.record(request, item="11", tried="ACME CA down (Pebble stopped) while the names change "
                  "(proxy_tls acme)", holds="that host fails naming the names, the directory and certbot's "
                  "reason; the previous certificate keeps serving (same fingerprint, 200 with Pebble's root); "
                  "an unchanged rerun with the CA down changes nothing", seconds=took,
                  how="the run that failed that host")
