"""proxy_tls = "provided": the certificate and key checked on this machine, before any host.

A certificate nginx cannot load sends the proxy into a restart loop on the host; so the
files are checked here: the certificate file is PEM and parses, its first certificate (the
server's; a chain may follow) is valid now, and the private key is PEM, unencrypted, and
belongs to that certificate. Messages name the setting and the path, never key material.
"""

from __future__ import annotations

import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization


def _public(key) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def check(cert_path: Path, key_path: Path, now: datetime.datetime | None = None) -> list[str]:
    """Why the pair cannot serve TLS, as ``setting: reason`` lines; empty when it can."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    errors: list[str] = []
    cert = None
    try:
        certs = x509.load_pem_x509_certificates(cert_path.read_bytes())
        cert = certs[0]
    except (OSError, ValueError) as e:
        reason = e.strerror if isinstance(e, OSError) else "no PEM certificate could be parsed from it"
        errors.append(f"proxy_tls_cert: {str(cert_path)!r} is not a usable certificate ({reason})")
    if cert is not None:
        if cert.not_valid_after_utc <= now:
            errors.append(f"proxy_tls_cert: the certificate in {str(cert_path)!r} expired on "
                          f"{cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC; give a current one")
        elif cert.not_valid_before_utc > now:
            errors.append(f"proxy_tls_cert: the certificate in {str(cert_path)!r} is not valid before "
                          f"{cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC")

    key = None
    try:
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except OSError as e:
        errors.append(f"proxy_tls_key: {str(key_path)!r} cannot be read ({e.strerror})")
    except TypeError:
        errors.append(f"proxy_tls_key: the key in {str(key_path)!r} is encrypted; nginx needs it "
                      "without a passphrase (openssl pkey -in KEY -out KEY.plain)")
    except (ValueError, Exception):  # cryptography raises ValueError or UnsupportedAlgorithm
        errors.append(f"proxy_tls_key: {str(key_path)!r} is not a PEM private key")

    if cert is not None and key is not None and _public(cert.public_key()) != _public(key.public_key()):
        errors.append(f"proxy_tls_key: the key in {str(key_path)!r} does not belong to the certificate "
                      f"in {str(cert_path)!r} (their public keys differ)")
    return errors
