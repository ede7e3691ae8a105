"""TLS for the proxy: a certificate the user provides, a self-signed one made on the host
(and fetched for clients to trust), or a placeholder until an ACME CA issues one."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Sequence

from pyinfra import host
from pyinfra.api import FileDownloadCommand, operation
from pyinfra.api.operation import OperationMeta

from .. import tls
from ..facts.stack import StackFiles
from ..facts.tls import Certificate, Fqdn, san_entry
from ..layout import TLS_CERT_FILENAME, TLS_KEY_FILENAME, HostLayout
from ..settings import Settings, resolve_local_path
from . import stack
from .snapshot import known


@operation()
def self_signed(tls_dir: str, stack_dir: str, names: Sequence[str], with_fqdn: bool = False,
                days: int = tls.SELF_SIGNED_DAYS, keep_any: bool = False):
    """
    Ensure a self-signed certificate for ``names`` is in place. It is made on the host once
    and kept (clients pin it); it is made again only when the wanted names change, when it
    is not self-signed (another mode left it), or when it has less than 30 days left. The
    private key is made on the host and never leaves it.

    + tls_dir: directory for cert.pem and key.pem
    + stack_dir: the stack directory (fact)
    + names: subjectAltName entries (``DNS:name``, ``IP:address``); the first is the CN
    + with_fqdn: add the host's FQDN (``hostname -f``, asked when the operation runs)
    + days: validity (825 days is the longest most clients accept)
    + keep_any: keep whatever certificate is there (the placeholder an ACME CA replaces)

    **Example:**

    .. code:: python

        tls.self_signed(name="Ensure a self-signed TLS certificate exists.", tls_dir="/opt/ollama-gate/tls",
                        stack_dir="/opt/ollama-gate", names=["DNS:gpu1.example.com", "IP:192.0.2.10"])
    """
    names = list(names)
    # Both from the run's one read: nothing before this operation writes the certificate.
    if with_fqdn:
        fqdn = (known(Fqdn) or "").rstrip(".")
        if fqdn and san_entry(fqdn) not in names:
            names.append(san_entry(fqdn))
    files = known(StackFiles, stack_dir=stack_dir)
    cert_path, key_path = f"{tls_dir}/{TLS_CERT_FILENAME}", f"{tls_dir}/{TLS_KEY_FILENAME}"
    have_key = key_path in files
    cert = known(Certificate, path=cert_path) if cert_path in files else None
    if cert is not None and have_key:
        if keep_any:
            host.noop("a certificate is already in place")
            return
        if cert["self_issued"] and sorted(cert["san"]) == sorted(names) and not tls.expiring(cert):
            host.noop("the self-signed certificate already names " + ", ".join(names))
            return
    yield tls.self_signed_command(tls_dir, list(names), days)


def _local_sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


@operation()
def fetched(src: str, dest: str, stack_dir: str, changed_by: Sequence[OperationMeta] = ()):
    """
    Ensure the operator's machine has the host's certificate (the file clients trust for
    a self-signed host): downloaded when it is missing or differs, or the certificate was
    just made. The local directory is made when missing.

    + src: the certificate on the host (in the stack directory)
    + dest: the local path (tls/<inventory name>.crt)
    + stack_dir: the stack directory (fact)
    + changed_by: the operations that make the certificate

    **Example:**

    .. code:: python

        tls.fetched(name="Fetch the certificate for clients to trust.", src="/opt/ollama-gate/tls/cert.pem",
                    dest="tls/gpu1.crt", stack_dir="/opt/ollama-gate", changed_by=[cert_op])
    """
    remote = known(StackFiles, stack_dir=stack_dir).get(src)
    local = Path(dest)
    if not any(op.changed for op in changed_by) and remote is not None and remote.sha256 == _local_sha256(local):
        host.noop(f"{dest} is already the host's certificate")
        return
    if host.state.is_executing:
        # What a gateway trusted this host by until now: it trusts both while this run
        # reloads the host and the gateway (gateway.trust_bundle, transitional).
        try:
            tls.REPLACED[str(local)] = local.read_text()
        except OSError:
            pass
    local.parent.mkdir(parents=True, exist_ok=True)
    yield FileDownloadCommand(src, dest, remote_temp_filename=host.get_temp_filename(dest))


def certificate(s: Settings, layout: HostLayout, inventory_name: str) -> list:
    """The operations that put the proxy's certificate in place; their metas tell the
    reload whether anything changed."""
    stack_dir, tls_dir = layout.stack_dir, layout.tls_dir
    if s.proxy_tls == "self-signed":
        address = str(host.data.get("ssh_hostname") or inventory_name)
        names = tls.self_signed_names(s, inventory_name, "", address)
        made = self_signed(name=f"Ensure a self-signed TLS certificate for {', '.join(names)} and the FQDN exists.",
                           tls_dir=tls_dir, stack_dir=stack_dir, names=names, with_fqdn=True)
        fetched(name=f"Fetch the host's certificate to {tls.TRUST_DIR}/ for clients to trust.",
                src=layout.tls_cert, dest=str(tls.trust_file(inventory_name)), stack_dir=stack_dir,
                changed_by=[made])
        return [made]
    if s.proxy_tls == "acme":
        # The proxy needs some certificate to start, and must run before the CA can
        # validate through it: a short-lived self-signed one stands in until certbot's
        # deploy hook replaces it.
        names = tls.self_signed_names(s, inventory_name, "")
        return [self_signed(name="Ensure the proxy has a certificate to start with until the CA issues one.",
                            tls_dir=tls_dir, stack_dir=stack_dir, names=names, days=2, keep_any=True)]
    base = Path.cwd()
    cert = resolve_local_path(s.proxy_tls_cert, base).read_text()
    key = resolve_local_path(s.proxy_tls_key, base).read_text()
    return [
        stack.file(name="Write the TLS certificate.", path=layout.tls_cert, content=cert,
                   stack_dir=stack_dir, mode=0o644, keep_previous=True),
        stack.file(name="Write the TLS private key.", path=layout.tls_key, content=key,
                   stack_dir=stack_dir, mode=0o600, sensitive=True, keep_previous=True),
    ]
