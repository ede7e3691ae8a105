"""TLS: acme settings refusals, self-signed names, certbot's command line, the summary,
and the acme parts of the rendered proxy and compose files."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from ollama_gate import compose, proxy, tls
from ollama_gate.operations.acme import reasons_to_issue
from ollama_gate.settings import (ConfigError, Settings, acme_names, public_host, public_port,
                                  settings_from_data)

ACME = {"proxy_tls": "acme", "proxy_public_url": "https://llm.example.com"}


def errors_of(data, base_dir=None):
    with pytest.raises(ConfigError) as exc:
        settings_from_data(data, base_dir)
    return exc.value.errors


def test_acme_defaults_to_lets_encrypt_production_and_the_public_host():
    s = settings_from_data(ACME)
    assert s.proxy_acme_directory == "https://acme-v02.api.letsencrypt.org/directory"
    assert acme_names(s) == ("llm.example.com",)
    assert acme_names(replace(s, proxy_acme_names=("a.example.com", "b.example.com"))) == (
        "a.example.com", "b.example.com")


@pytest.mark.parametrize("data,expect", [
    ({"proxy_tls": "acme"}, "proxy_acme_names: proxy_tls is 'acme' but neither"),
    ({"proxy_tls": "acme", "proxy_public_url": "https://192.0.2.10:8880"},
     "proxy_public_url: proxy_tls is 'acme' but its host '192.0.2.10' is not a DNS name"),
    ({**ACME, "proxy_acme_names": ["10.0.0.1"]}, "proxy_acme_names: '10.0.0.1' is not a DNS name"),
    ({**ACME, "proxy_acme_names": ["*.example.com"]}, "no IP addresses, no wildcards"),
    ({**ACME, "proxy_acme_names": ["localhost"]}, "proxy_acme_names: 'localhost' is not a DNS name"),
    ({**ACME, "proxy_acme_names": "llm.example.com"}, "proxy_acme_names: must be a list"),
    ({**ACME, "proxy_acme_directory": "http://acme.example.com/dir"}, "proxy_acme_directory: 'http://"),
    ({**ACME, "proxy_acme_email": "ops"}, "proxy_acme_email: 'ops' is not an e-mail address"),
    ({**ACME, "proxy_http_port": 8880}, "proxy_http_port: 8880 is also proxy_port"),
    ({**ACME, "proxy_http_port": 0}, "proxy_http_port: must be from 1 to 65535"),
    ({**ACME, "proxy_acme_ca_cert": "no/such/ca.pem"}, "proxy_acme_ca_cert: no such local file"),
])
def test_acme_refusals_name_the_setting(data, expect, tmp_path):
    errors = errors_of(data, tmp_path)
    assert any(expect in e for e in errors), errors


def test_public_host_and_port():
    assert public_host(Settings(proxy_public_url="https://[2001:db8::1]:9443/")) == "2001:db8::1"
    assert public_host(Settings()) == ""
    assert public_port(Settings(proxy_public_url="https://llm.example.com")) == 443
    assert public_port(Settings(proxy_public_url="https://[2001:db8::1]:9443/")) == 9443
    assert public_port(Settings(proxy_port=8443)) == 8443


def test_self_signed_names_hold_public_host_inventory_name_and_fqdn():
    s = Settings(proxy_tls="self-signed", proxy_public_url="https://192.0.2.10:8880")
    assert tls.self_signed_names(s, "gpu1", "gpu1.example.com") == [
        "IP:192.0.2.10", "DNS:gpu1", "DNS:gpu1.example.com"]
    # An address as inventory name is an IP entry; each name once.
    assert tls.self_signed_names(s, "192.0.2.10", "192.0.2.10.") == ["IP:192.0.2.10"]
    v6 = Settings(proxy_public_url="https://[2001:db8::1]:8880")
    assert tls.self_signed_names(v6, "gpu1", "")[0] == "IP:2001:db8::1"
    # Without proxy_public_url: the address the Base URL uses (ssh_hostname).
    assert tls.self_signed_names(Settings(), "gpu1", "gpu1.lan", "10.1.2.3") == [
        "IP:10.1.2.3", "DNS:gpu1", "DNS:gpu1.lan"]


def test_self_signed_command_makes_key_and_cert_beside_then_renames():
    cmd = tls.self_signed_command("/opt/ollama-gate/tls", ["IP:127.0.0.1", "DNS:gpu1"])
    assert "-subj /CN=127.0.0.1" in cmd
    assert "subjectAltName=IP:127.0.0.1,DNS:gpu1" in cmd
    assert "-days 825" in cmd
    assert cmd.index("chmod 600 /opt/ollama-gate/tls/key.pem.ollama-gate-new") < cmd.index("mv -f")
    assert cmd.endswith("mv -f /opt/ollama-gate/tls/cert.pem.ollama-gate-new /opt/ollama-gate/tls/cert.pem")


def test_trust_file_is_under_tls_and_safe():
    assert tls.trust_file("gpu1", Path("/p")) == Path("/p/tls/gpu1.crt")
    assert tls.trust_file("@local/../x", Path("/p")) == Path("/p/tls/_local_.._x.crt")


def test_certbot_command_webroot_hook_and_renewal_flags():
    cmd = tls.certbot_command("ollama-gate", ["llm.example.com", "gpu1.example.com"],
                              "https://acme.example/dir", "", "/opt/g/acme/webroot", "/opt/g/acme/deploy-hook",
                              renew=False)
    assert cmd.startswith("certbot certonly --non-interactive --agree-tos --webroot -w /opt/g/acme/webroot ")
    assert "--cert-name ollama-gate --server https://acme.example/dir --deploy-hook /opt/g/acme/deploy-hook" in cmd
    assert "-d llm.example.com -d gpu1.example.com --register-unsafely-without-email" in cmd
    assert "--force-renewal" not in cmd
    renew = tls.certbot_command("g", ["a.example.com"], "https://x/dir", "ops@example.com", "/w", "/h", renew=True)
    assert renew.endswith("-m ops@example.com --force-renewal --renew-with-new-domains")


def test_reasons_to_issue():
    lineage = {"san": ["DNS:a.example.com"], "server": "https://x/dir", "not_after": 4102444800}
    assert reasons_to_issue(None, ["a.example.com"], "https://x/dir") == ["no certificate yet"]
    assert reasons_to_issue(lineage, ["a.example.com"], "https://x/dir") == []
    assert reasons_to_issue(lineage, ["b.example.com"], "https://y/dir") == [
        "the names changed (had DNS:a.example.com)", "the CA changed (was https://x/dir)"]
    assert reasons_to_issue({**lineage, "not_after": 1}, ["a.example.com"], "https://x/dir") == [
        "it has less than 30 days left"]


CERT = {"subject": "CN=gpu1", "issuer": "CN=gpu1", "not_after": 1867161900, "san": ["IP:127.0.0.1", "DNS:gpu1"],
        "fingerprint": "75:B0", "self_issued": True}


def test_summary_lines_per_mode():
    assert tls.summary_lines(Settings(), None) == ["TLS:             off (plain HTTP)"]
    lines = tls.summary_lines(Settings(proxy_tls="self-signed"), CERT, Path("/p/tls/gpu1.crt"))
    assert lines[0] == "TLS:             self-signed (made on the host, kept)"
    assert lines[1] == "Certificate:     expires 2029-03-02 16:05 UTC; names IP:127.0.0.1, DNS:gpu1"
    assert lines[2] == "SHA-256:         75:B0"
    assert lines[3].startswith("Trust file:      /p/tls/gpu1.crt")
    acme = tls.summary_lines(settings_from_data(ACME), {**CERT, "self_issued": False})
    assert acme[0].startswith("TLS:             ACME (https://acme-v02.api.letsencrypt.org/directory)")
    assert not any(line.startswith("Trust file") for line in acme)
    assert tls.summary_lines(Settings(proxy_tls="provided"), None)[1] == "Certificate:     (none found on the host)"


def test_acme_proxy_config_answers_challenges_on_80_and_redirects_the_rest():
    s = settings_from_data({**ACME, "proxy_public_url": "https://llm.example.com:9443"})
    text = proxy.render_proxy_config(s)[proxy.CONF_FILENAME]
    http = re.search(r"server \{\n    listen 80;\n(.*?)\n\}\n", text, re.S).group(1)
    assert "location ^~ /.well-known/acme-challenge/ {\n        root /var/www/ollama-gate-acme;" in http
    assert "return 301 https://$host:9443$request_uri;" in http
    assert "proxy_pass" not in http and "auth_basic" not in http
    assert "listen 443 ssl;" in text
    default_port = proxy.render_proxy_config(settings_from_data(ACME))[proxy.CONF_FILENAME]
    assert "return 301 https://$host$request_uri;" in default_port
    assert "acme-challenge" not in proxy.render_proxy_config(Settings(proxy_tls="self-signed"))[proxy.CONF_FILENAME]


def test_acme_compose_publishes_the_http_port_and_mounts_the_webroot_read_only():
    s = settings_from_data({**ACME, "proxy_http_port": 8081, "proxy_bind": "127.0.0.1"})
    text = compose.render_compose(s)
    assert '- "127.0.0.1:8880:443"' in text
    assert '- "127.0.0.1:8081:80"' in text
    assert "- /opt/ollama-gate/acme/webroot:/var/www/ollama-gate-acme:ro" in text
    assert "acme" not in compose.render_compose(Settings(proxy_tls="self-signed"))


def test_deploy_hook_installs_the_lineage_then_reloads_a_running_proxy():
    hook = tls.acme_hook(settings_from_data(ACME))
    assert hook.startswith("#!/bin/sh\n")
    assert 'lineage="${RENEWED_LINEAGE:-/etc/letsencrypt/live/ollama-gate}"' in hook
    # The key is in place before the certificate, both by rename; nginx -t before reload.
    assert hook.index('mv -f "$tls/key.pem.ollama-gate-new"') < hook.index('mv -f "$tls/cert.pem.ollama-gate-new"')
    assert hook.index("nginx -t -q") < hook.index("nginx -s reload")
    assert "name=^/ollama-gate-proxy$" in hook


def test_deploy_hook_records_what_the_proxy_loaded_like_the_deploys_reload():
    from ollama_gate.facts.host import config_digest_command

    hook = tls.acme_hook(settings_from_data(ACME))
    record = f"{config_digest_command('/opt/ollama-gate')} > '/opt/ollama-gate/.proxy-loaded.new'"
    assert record in hook
    assert hook.index("nginx -s reload") < hook.index(record)
