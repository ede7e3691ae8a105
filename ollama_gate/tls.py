"""TLS: which names a certificate must carry, where clients find the file to trust, what
the summary says about it, and the certbot side of ``proxy_tls = "acme"``. Pure: no host.

On the host, the proxy always reads ``<stack_dir>/tls/cert.pem`` and ``key.pem``,
whichever mode made them; in acme mode certbot's deploy hook copies its lineage there.
"""

from __future__ import annotations

import re
import shlex
import time
from pathlib import Path

from . import TEMPLATES
from .facts.host import LOADED_RECORD, config_digest_command
from .facts.tls import san_entry
from .layout import layout_of
from .settings import Settings, public_host

# Where the deploy puts each host's self-signed certificate on the operator's machine
# (relative to the directory pyinfra runs in; git-ignored): tls/<inventory name>.crt.
TRUST_DIR = "tls"
# A certificate with less than this left is replaced (self-signed) or renewed (acme) by
# the deploy; certbot's timer renews ACME certificates at the same point.
RENEW_BEFORE_SECONDS = 30 * 86400
SELF_SIGNED_DAYS = 825  # the longest validity most clients accept


# This run's replaced fetched certificates: local path -> the text it held before (filled by
# operations/tls.fetched when it downloads a changed certificate; read by a gateway's bundle).
REPLACED: dict[str, str] = {}


def trust_file(inventory_name: str, base_dir: Path | None = None) -> Path:
    """The local file a client trusts for a self-signed host: tls/<inventory name>.crt."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", inventory_name)
    return (base_dir or Path.cwd()) / TRUST_DIR / f"{safe}.crt"


def self_signed_names(settings: Settings, inventory_name: str, fqdn: str, address: str = "") -> list[str]:
    """subjectAltName entries of a self-signed certificate: the host of proxy_public_url
    (without one: ``address``, the host the summary's Base URL names), the inventory name
    and the host's FQDN (addresses as IP entries), each once."""
    entries: list[str] = []
    for name in (public_host(settings) or address, inventory_name, fqdn):
        name = (name or "").strip().rstrip(".")
        if name and san_entry(name) not in entries and not name.startswith("@"):
            entries.append(san_entry(name))
    return entries


def self_signed_command(tls_dir: str, entries: list[str], days: int = SELF_SIGNED_DAYS) -> str:
    """The openssl command that makes key.pem and cert.pem in tls_dir (key 0600, never shown)."""
    common_name = entries[0].split(":", 1)[1][:64] if entries else "ollama-gate"
    t = shlex.quote(tls_dir)
    return (f"umask 077 && openssl req -x509 -newkey rsa:2048 -sha256 -nodes -days {int(days)} "
            f"-subj {shlex.quote('/CN=' + common_name)} "
            f"-addext {shlex.quote('subjectAltName=' + ','.join(entries))} "
            f"-keyout {t}/key.pem.ollama-gate-new -out {t}/cert.pem.ollama-gate-new 2>/dev/null "
            f"&& chmod 600 {t}/key.pem.ollama-gate-new && chmod 644 {t}/cert.pem.ollama-gate-new "
            f"&& mv -f {t}/key.pem.ollama-gate-new {t}/key.pem && mv -f {t}/cert.pem.ollama-gate-new {t}/cert.pem")


def expiring(cert: dict | None, now: float | None = None) -> bool:
    """True when cert is missing or has less than RENEW_BEFORE_SECONDS left."""
    if not cert or not cert.get("not_after"):
        return True
    return cert["not_after"] - (now if now is not None else time.time()) < RENEW_BEFORE_SECONDS


def cert_name(settings: Settings) -> str:
    """certbot's lineage name for this stack (one lineage per Compose project)."""
    return settings.stack_project


def acme_hook(settings: Settings) -> str:
    """The deploy hook certbot runs after it got a new certificate for the lineage."""
    layout = layout_of(settings)
    return TEMPLATES.get_template("acme/deploy-hook.sh.j2").render(
        cert_name=cert_name(settings), tls_dir=layout.tls_dir, container=layout.proxy_container,
        # The same record stack.proxy_loaded writes: the proxy has loaded what is on disk.
        digest_command=config_digest_command(layout.stack_dir),
        record=f"{layout.stack_dir}/{LOADED_RECORD}")


def certbot_command(cert_name: str, names, directory: str, email: str, webroot: str, hook: str,
                    renew: bool) -> str:
    """``certbot certonly`` in webroot mode for names from the CA at directory.

    + renew: a lineage exists: replace it now (names, CA or expiry changed), whatever
      certbot itself would decide about its age.
    """
    args = ["certbot", "certonly", "--non-interactive", "--agree-tos", "--webroot", "-w", webroot,
            "--cert-name", cert_name, "--server", directory, "--deploy-hook", hook]
    for name in names:
        args += ["-d", name]
    args += ["-m", email] if email else ["--register-unsafely-without-email"]
    if renew:
        args += ["--force-renewal", "--renew-with-new-domains"]
    return " ".join(shlex.quote(a) for a in args)


def utc(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(seconds))


def summary_lines(settings: Settings, cert: dict | None, trust: Path | None = None) -> list[str]:
    """What the per-host summary says about TLS: mode, expiry, fingerprint, file to trust."""
    mode = settings.proxy_tls
    if mode == "off":
        return ["TLS:             off (plain HTTP)"]
    described = {"self-signed": "self-signed (made on the host, kept)",
                 "provided": "provided certificate",
                 "acme": f"ACME ({settings.proxy_acme_directory}), renewed by certbot's timer"}[mode]
    lines = [f"TLS:             {described}"]
    if cert is None:
        lines.append("Certificate:     (none found on the host)")
        return lines
    lines.append(f"Certificate:     expires {utc(cert['not_after'])}; "
                 f"names {', '.join(cert['san']) or cert['subject']}")
    lines.append(f"SHA-256:         {cert['fingerprint']}")
    if mode == "self-signed" and trust is not None:
        lines.append(f"Trust file:      {trust} (curl --cacert, ollama/openai verify=, keytool -importcert)")
    return lines
