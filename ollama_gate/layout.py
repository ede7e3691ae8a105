"""Where the stack lives: its paths on the host, the paths inside the proxy container, and
the container names. One object (``HostLayout``, from ``layout_of(settings)``) that deploy.py,
the TLS and stack operations, the stack facts and the compose template take them from.

    /opt/ollama-gate/               stack_dir
        compose.yml                 compose_file
        proxy/  -> /etc/nginx/conf.d         proxy_dir (rendered config, Lua module, DH group)
        auth/   -> /etc/ollama-gate/auth     auth_dir (the auth mode's credential file)
        tls/    -> /etc/ollama-gate/tls      tls_dir (cert.pem, key.pem)
        acme/                                acme_dir (proxy_tls acme only)
            deploy-hook                      acme_hook (certbot's, per lineage)
            webroot/ -> /var/www/ollama-gate-acme   acme_webroot (HTTP-01 answers)
    containers <project>-ollama, <project>-proxy
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .settings import Settings

COMPOSE_FILENAME = "compose.yml"
# Where a run's lock and its short-lived buffers live on a host: /run is a tmpfs, so a
# lock never outlives a reboot.
LOCK_DIR = "/run/lock"
# The stack directory's subdirectories (relative: the proxy's config digest lists them so).
PROXY_SUBDIR = "proxy"
AUTH_SUBDIR = "auth"
TLS_SUBDIR = "tls"
TLS_CERT_FILENAME = "cert.pem"
TLS_KEY_FILENAME = "key.pem"
ACME_SUBDIR = "acme"
ACME_HOOK_FILENAME = "deploy-hook"
ACME_WEBROOT_SUBDIR = "webroot"

# Inside the proxy container (mounted read-only from the host directories above). Both
# official images include /etc/nginx/conf.d/*.conf inside http {}.
CONF_DIR = "/etc/nginx/conf.d"
AUTH_DIR = "/etc/ollama-gate/auth"
TLS_DIR = "/etc/ollama-gate/tls"
ACME_WEBROOT = "/var/www/ollama-gate-acme"


def container_name(project: str, service: str) -> str:
    """The name Compose gives the container of ``service`` (the compose file sets it)."""
    return f"{project}-{service}"


@dataclass(frozen=True)
class HostLayout:
    """The stack's places on one host, from its ``stack_dir`` and ``stack_project``."""

    stack_dir: str
    project: str

    # --- On the host ---------------------------------------------------------------------
    @property
    def compose_file(self) -> str:
        return f"{self.stack_dir}/{COMPOSE_FILENAME}"

    @property
    def proxy_dir(self) -> str:
        return f"{self.stack_dir}/{PROXY_SUBDIR}"

    @property
    def auth_dir(self) -> str:
        return f"{self.stack_dir}/{AUTH_SUBDIR}"

    @property
    def tls_dir(self) -> str:
        return f"{self.stack_dir}/{TLS_SUBDIR}"

    @property
    def tls_cert(self) -> str:
        return f"{self.tls_dir}/{TLS_CERT_FILENAME}"

    @property
    def tls_key(self) -> str:
        return f"{self.tls_dir}/{TLS_KEY_FILENAME}"

    @property
    def acme_dir(self) -> str:
        return f"{self.stack_dir}/{ACME_SUBDIR}"

    @property
    def acme_hook(self) -> str:
        return f"{self.acme_dir}/{ACME_HOOK_FILENAME}"

    @property
    def acme_webroot(self) -> str:
        return f"{self.acme_dir}/{ACME_WEBROOT_SUBDIR}"

    def proxy_file(self, name: str) -> str:
        return f"{self.proxy_dir}/{name}"

    def auth_file(self, name: str) -> str:
        return f"{self.auth_dir}/{name}"

    # --- Containers ------------------------------------------------------------------------
    def container(self, service: str) -> str:
        return container_name(self.project, service)

    @property
    def ollama_container(self) -> str:
        return self.container("ollama")

    @property
    def proxy_container(self) -> str:
        return self.container("proxy")

    def proxy_mounts(self, tls: bool, acme: bool = False) -> list[tuple[str, str]]:
        """(host directory, container directory) pairs the proxy mounts read-only.
        Directories, not files: a replaced file is seen by the running proxy. ``acme``: the
        webroot certbot writes HTTP-01 answers to, served on the proxy's port 80."""
        mounts = [(self.proxy_dir, CONF_DIR), (self.auth_dir, AUTH_DIR)]
        if tls:
            mounts.append((self.tls_dir, TLS_DIR))
        if acme:
            mounts.append((self.acme_webroot, ACME_WEBROOT))
        return mounts


def layout_of(settings: Settings) -> HostLayout:
    return HostLayout(stack_dir=settings.stack_dir, project=settings.stack_project)
