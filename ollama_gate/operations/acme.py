"""ACME certificates with Debian's certbot on the host: webroot mode, the HTTP-01 answer
served by the proxy itself, renewals by certbot's own timer, a deploy hook that puts the
new certificate in place and reloads the proxy."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Sequence

from pyinfra import host
from pyinfra.api import operation
from pyinfra.operations import files, server, systemd

from .. import tls
from ..facts.stack import StackFiles
from ..facts.tls import CertbotLineage, san_entry
from ..layout import HostLayout
from ..settings import Settings, acme_names, resolve_local_path
from .snapshot import known

# Where a private ACME CA's certificate joins the host's trust store (certbot's
# python3-requests on Debian and Ubuntu uses the system bundle).
CA_TRUST_PATH = "/usr/local/share/ca-certificates/ollama-gate-acme-ca.crt"


def reasons_to_issue(lineage: dict | None, names: list[str], server_url: str) -> list[str]:
    """Why a new certificate must be requested now (empty: keep the current one)."""
    if lineage is None:
        return ["no certificate yet"]
    reasons = []
    if sorted(lineage["san"]) != sorted(san_entry(n) for n in names):
        reasons.append(f"the names changed (had {', '.join(lineage['san'])})")
    if lineage["server"] != server_url:
        reasons.append(f"the CA changed (was {lineage['server']})")
    if tls.expiring(lineage):
        reasons.append("it has less than 30 days left")
    return reasons


@operation()
def certificate(cert_name: str, names: Sequence[str], directory: str, email: str, webroot: str, hook: str,
                tls_cert: str, stack_dir: str):
    """
    Ensure certbot holds a valid certificate for ``names`` from the CA at ``directory``,
    and the proxy serves it. A certificate is requested only when there is none, the
    names or the CA changed, or it has less than 30 days left: a rerun never asks the CA
    (ACME rate limits). When certbot fails (CA down, validation refused) the host fails
    with certbot's reason; the proxy keeps serving the certificate it has.

    + cert_name: certbot's lineage name
    + names: the DNS names on the certificate
    + directory: the CA's ACME directory URL
    + email: the account's contact ("" = none)
    + webroot: the host directory the proxy serves /.well-known/acme-challenge/ from
    + hook: the deploy hook (copies the lineage to the proxy's tls/, reloads the proxy)
    + tls_cert: the certificate the proxy reads (compared with certbot's)
    + stack_dir: the stack directory (fact)

    **Example:**

    .. code:: python

        acme.certificate(name="Ensure the ACME certificate is valid.", cert_name="ollama-gate",
                         names=["llm.example.com"], directory="https://acme-v02.api.letsencrypt.org/directory",
                         email="ops@example.com", webroot="/opt/ollama-gate/acme/webroot",
                         hook="/opt/ollama-gate/acme/deploy-hook", tls_cert="/opt/ollama-gate/tls/cert.pem",
                         stack_dir="/opt/ollama-gate")
    """
    names = list(names)
    # From the run's one read: nothing before this operation touches certbot's lineage.
    lineage = known(CertbotLineage, cert_name=cert_name)
    reasons = reasons_to_issue(lineage, names, directory)
    if reasons:
        command = tls.certbot_command(cert_name, names, directory, email, webroot, hook,
                                      renew=lineage is not None)
        message = (f"proxy_tls acme: certbot could not get a certificate for {', '.join(names)} from "
                   f"{directory} ({'; '.join(reasons)}); the proxy keeps serving its current "
                   "certificate. certbot said:")
        # certbot's own reason (CA unreachable, validation failed) ends the message.
        yield (f"if ! out=$({command} 2>&1); then echo {shlex.quote(message)} >&2; "
               "printf '%s\\n' \"$out\" | grep -v '^ *$' | tail -n 12 >&2; exit 1; fi")
        return
    if lineage["renew_hook"] != hook:
        conf = shlex.quote(f"/etc/letsencrypt/renewal/{cert_name}.conf")
        yield (f"sed -i '/^renew_hook *=/d' {conf} && "
               f"sed -i 's|^\\[renewalparams\\]$|[renewalparams]\\nrenew_hook = {hook}|' {conf}")
    served = known(StackFiles, stack_dir=stack_dir).get(tls_cert)
    if served is None or served.sha256 != lineage["fullchain_sha256"]:
        # The lineage is valid but the proxy serves something else (a placeholder, a
        # stack directory made again): the hook puts it in place, as after a renewal.
        yield f"RENEWED_LINEAGE=/etc/letsencrypt/live/{shlex.quote(cert_name)} {shlex.quote(hook)}"
        return
    if lineage["renew_hook"] == hook:
        host.noop(f"the certificate for {', '.join(names)} is valid until "
                  f"{tls.utc(lineage['not_after'])} and served")


@operation()
def absent(cert_name: str):
    """
    Ensure certbot holds no lineage ``cert_name`` (TLS mode is no longer acme), so its
    timer does not renew a certificate the proxy no longer uses.

    + cert_name: the lineage
    """
    # From the run's one read (nothing in a run changes the lineage before this).
    if known(CertbotLineage, cert_name=cert_name) is None:
        host.noop(f"certbot has no certificate {cert_name}")
        return
    yield f"certbot delete --non-interactive --cert-name {shlex.quote(cert_name)}"


def ensure(settings: Settings, layout: HostLayout):
    """Everything acme mode needs after the stack runs: trust for a private CA's directory,
    the certificate, and certbot's timer."""
    if settings.proxy_acme_ca_cert:
        trusted = files.put(
            name="Trust the ACME directory's private CA (proxy_acme_ca_cert) on the host.",
            src=str(resolve_local_path(settings.proxy_acme_ca_cert, Path.cwd())),
            dest=CA_TRUST_PATH, mode="644", user="root", group="root",
        )
        server.shell(name="Update the host's CA bundle with it.", commands=["update-ca-certificates"],
                     _if=trusted.did_change)
    names = list(acme_names(settings))
    op = certificate(name=f"Ensure an ACME certificate for {', '.join(names)} is valid and served.",
                     cert_name=tls.cert_name(settings), names=names, directory=settings.proxy_acme_directory,
                     email=settings.proxy_acme_email, webroot=layout.acme_webroot, hook=layout.acme_hook,
                     tls_cert=layout.tls_cert, stack_dir=layout.stack_dir)
    systemd.service(name="Ensure certbot's timer renews certificates.", service="certbot.timer",
                    running=True, enabled=True)
    return op
