"""Facts about certificates on the host: the proxy's, and certbot's lineage."""

from __future__ import annotations

import calendar
import ipaddress
import shlex
import time

from typing_extensions import override

from pyinfra.api import FactBase

# One openssl call prints everything the deploy and the summary need about a certificate.
_X509 = ("openssl x509 -in {path} -noout -subject -issuer -enddate -fingerprint -sha256 "
         "-ext subjectAltName -nameopt RFC2253 2>/dev/null")


def san_entry(name: str) -> str:
    """A subjectAltName entry for name: ``IP:`` for an address, ``DNS:`` else."""
    try:
        return f"IP:{ipaddress.ip_address(name.strip('[]'))}"
    except ValueError:
        return f"DNS:{name}"


def parse_x509(lines: list[str]) -> dict | None:
    """The fields of ``openssl x509`` output (see _X509), or None when there were none.

    SAN entries are normalised to ``DNS:name`` / ``IP:address`` (openssl prints IPv6
    addresses uncompressed); ``not_after`` is seconds since the epoch (UTC).
    """
    cert: dict = {"subject": None, "issuer": None, "not_after": None, "fingerprint": None, "san": []}
    in_san = False
    for line in lines:
        text = line.strip()
        if in_san:
            for part in (p.strip() for p in text.split(",")):
                kind, _, value = part.partition(":")
                if kind == "DNS":
                    cert["san"].append(f"DNS:{value}")
                elif kind == "IP Address":
                    cert["san"].append(san_entry(value))
            in_san = False
            continue
        key, _, value = text.partition("=")
        if text.startswith("X509v3 Subject Alternative Name"):
            in_san = True
        elif key == "subject":
            cert["subject"] = value.strip()
        elif key == "issuer":
            cert["issuer"] = value.strip()
        elif key == "notAfter":
            cert["not_after"] = calendar.timegm(time.strptime(value.strip(), "%b %d %H:%M:%S %Y %Z"))
        elif key.lower() == "sha256 fingerprint":
            cert["fingerprint"] = value.strip()
    if cert["fingerprint"] is None:
        return None
    cert["self_issued"] = cert["subject"] == cert["issuer"]
    return cert


class Certificate(FactBase[dict | None]):
    """
    Returns the certificate at ``path`` (PEM), or None when there is none:

    .. code:: python

        {"subject": "CN=gpu1.example.com", "issuer": "CN=gpu1.example.com",
         "not_after": 1893456000, "fingerprint": "AB:12:...", "self_issued": True,
         "san": ["DNS:gpu1.example.com", "IP:192.0.2.10"]}
    """

    @override
    def requires_command(self, path: str) -> str:
        return "openssl"

    @override
    def command(self, path: str) -> str:
        p = shlex.quote(path)
        return f"if [ -f {p} ]; then {_X509.format(path=p)}; fi; true"

    @override
    def process(self, output: list[str]) -> dict | None:
        return parse_x509(output)


class Fqdn(FactBase[str]):
    """Returns the host's fully qualified name (``hostname -f``, else its short name): ``"gpu1.example.com"``."""

    @override
    def command(self) -> str:
        return "hostname -f 2>/dev/null || hostname 2>/dev/null || uname -n"

    @override
    def process(self, output: list[str]) -> str:
        return output[0].strip() if output else ""


class CertbotLineage(FactBase[dict | None]):
    """
    Returns certbot's certificate lineage ``cert_name``, or None when certbot has none:

    .. code:: python

        {"server": "https://acme-v02.api.letsencrypt.org/directory",
         "renew_hook": "/opt/ollama-gate/acme/deploy-hook", "fullchain_sha256": "3f2a...",
         "not_after": 1893456000, "san": ["DNS:llm.example.com"], "fingerprint": "AB:..", ...}
    """

    @override
    def command(self, cert_name: str) -> str:
        conf = shlex.quote(f"/etc/letsencrypt/renewal/{cert_name}.conf")
        chain = shlex.quote(f"/etc/letsencrypt/live/{cert_name}/fullchain.pem")
        return (
            f"if [ -f {conf} ] && [ -f {chain} ]; then "
            f"sed -n 's/^server *= */server=/p; s/^renew_hook *= */renew_hook=/p' {conf}; "
            f"echo \"fullchain_sha256=$(sha256sum < {chain} | cut -d' ' -f1)\"; "
            f"{_X509.format(path=chain)}; fi; true"
        )

    @override
    def process(self, output: list[str]) -> dict | None:
        fields = {}
        rest = []
        for line in output:
            key, sep, value = line.partition("=")
            if sep and key in ("server", "renew_hook", "fullchain_sha256"):
                fields[key] = value.strip()
            else:
                rest.append(line)
        cert = parse_x509(rest)
        if cert is None or "fullchain_sha256" not in fields:
            return None
        return {"server": fields.get("server", ""), "renew_hook": fields.get("renew_hook", ""),
                "fullchain_sha256": fields["fullchain_sha256"], **cert}
