"""TLS for the proxy: a certificate the user provides, or a self-signed one made on the host."""

from __future__ import annotations

import shlex
from pathlib import Path

from pyinfra import host
from pyinfra.api import operation

from ..facts.stack import StackFiles
from ..layout import TLS_CERT_FILENAME, TLS_KEY_FILENAME, HostLayout
from ..settings import Settings, resolve_local_path
from . import stack
from .snapshot import known


@operation()
def self_signed(tls_dir: str, stack_dir: str, common_name: str, days: int = 825):
    """
    Create a self-signed certificate on the host once; later runs keep it (clients may
    have pinned it). The private key is made on the host and never leaves it.

    + tls_dir: directory for cert.pem and key.pem
    + stack_dir: the stack directory (fact)
    + common_name: the certificate's name (the host's name)
    + days: validity (825 days is the longest most clients accept)

    **Example:**

    .. code:: python

        tls.self_signed(name="Create a self-signed certificate.", tls_dir="/opt/ollama-gate/tls",
                        stack_dir="/opt/ollama-gate", common_name="gpu1.example.com")
    """
    files = known(StackFiles, stack_dir=stack_dir)
    cert, key = f"{tls_dir}/{TLS_CERT_FILENAME}", f"{tls_dir}/{TLS_KEY_FILENAME}"
    if cert in files and key in files:
        host.noop("a certificate is already in place")
        return
    cn = shlex.quote(f"/CN={common_name}")
    san = shlex.quote(f"subjectAltName=DNS:{common_name},DNS:localhost,IP:127.0.0.1")
    c, k = shlex.quote(cert), shlex.quote(key)
    yield (f"umask 077 && openssl req -x509 -newkey rsa:2048 -sha256 -nodes -days {days} "
           f"-subj {cn} -addext {san} -keyout {k} -out {c} && chmod 600 {k} && chmod 644 {c}")


def certificate(s: Settings, layout: HostLayout) -> list:
    """The operations that put the proxy's certificate in place; their metas tell the
    reload whether anything changed."""
    stack_dir = layout.stack_dir
    if s.proxy_tls == "self-signed":
        return [self_signed(name="Ensure a self-signed TLS certificate exists.", tls_dir=layout.tls_dir,
                            stack_dir=stack_dir, common_name=host.name if "." in host.name else "localhost")]
    base = Path.cwd()
    cert = resolve_local_path(s.proxy_tls_cert, base).read_text()
    key = resolve_local_path(s.proxy_tls_key, base).read_text()
    return [
        stack.file(name="Write the TLS certificate.", path=layout.tls_cert, content=cert,
                   stack_dir=stack_dir, mode=0o644, keep_previous=True),
        stack.file(name="Write the TLS private key.", path=layout.tls_key, content=key,
                   stack_dir=stack_dir, mode=0o600, sensitive=True, keep_previous=True),
    ]
