"""Settings: the typed view of one host's data, checked before any host is touched."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Settings:
    """One host's settings; the defaults mirror group_data/all.py."""

    auth_mode: str = "basic"
    auth_credentials: tuple = ()
    auth_realm: str = "ollama-gate"
    auth_htpasswd_scheme: str = "ssha"
    auth_password_min_length: int = 20
    auth_fail_limit: int = 10

    proxy_bind: str = "0.0.0.0"
    proxy_port: int = 8880
    proxy_max_body: str = "32m"
    proxy_read_timeout: int = 600
    proxy_tls: str = "off"
    proxy_tls_cert: str = ""
    proxy_tls_key: str = ""
    proxy_hsts: bool = True

    images_ollama: str = "ollama/ollama:0.12.6"
    images_nginx: str = "nginx:1.28.0"
    images_openresty: str = "openresty/openresty:1.27.1.2-0-bookworm"
    images_source: str = "registry"
    images_archive_dir: str = "images"

    docker_install_method: str = "official"
    docker_users: tuple = ()
    docker_daemon_options: dict = field(default_factory=dict)

    stack_dir: str = "/opt/ollama-gate"
    stack_project: str = "ollama-gate"
    ollama_gpu: bool = False

    models: tuple = ("gemma3:1b",)
    models_prune: bool = False

    verify_enabled: bool = True
    verify_generate: bool = True
    verify_report: str = ""

    @property
    def proxy_image(self) -> str:
        """The proxy image of the auth mode: nginx for basic, OpenResty for bearer."""
        return self.images_nginx if self.auth_mode == "basic" else self.images_openresty


SETTING_NAMES = tuple(f.name for f in dataclasses.fields(Settings))
