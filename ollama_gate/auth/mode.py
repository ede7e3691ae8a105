"""What an auth mode is: the attributes and methods every mode module fills in."""

from __future__ import annotations

import secrets as _random
from typing import TYPE_CHECKING, ClassVar, Hashable, Mapping

from ..flavors import FLAVORS, Flavor

if TYPE_CHECKING:
    from ..secrets_file import Secret
    from ..settings import Settings


class AuthMode:
    """One way clients prove who they are. A mode module subclasses this once and sets
    every class attribute; the rest of the project asks the instance, never the name.

    Secrets file:
    + name: the value of the ``auth_mode`` setting
    + section: the secrets file section its credentials live under (``users``, ``keys``)
    + value_kind: what one value is called in messages (``password``, ``key``)
    + new_command: the CLI command that adds one (``new-user``, ``new-key``)

    On the host:
    + credential_file: its file in ``{stack_dir}/auth/`` (the proxy reads it there)
    + reuses_current_file: rendering needs the host's current file
    + needs_installation_key: rendering needs the secrets file's installation key (salts)

    Proxy:
    + flavor: the key of ``FLAVORS`` its image is (workers' gid, Lua or not)
    + image_setting: the setting that names that image (``images_nginx``)
    + needs_lua: the config needs ngx_http_lua
    + template: its block of the proxy config, ``templates/proxy/auth/<name>.conf.j2``:
      macros ``log_user``, ``http``, ``server``, ``location`` included by the main template
    + proxy_files: files of ``files/proxy/`` uploaded beside the config as they are

    Summary:
    + summary_label: the authentication type in ThingsBoard's Ollama form
    + client_hint: what a client presents, in the summary
    """

    name: ClassVar[str]
    section: ClassVar[str]
    value_kind: ClassVar[str]
    new_command: ClassVar[str]
    credential_file: ClassVar[str]
    reuses_current_file: ClassVar[bool] = False
    needs_installation_key: ClassVar[bool] = False
    flavor: ClassVar[str]
    image_setting: ClassVar[str]
    needs_lua: ClassVar[bool] = False
    proxy_files: ClassVar[tuple[str, ...]] = ()
    summary_label: ClassVar[str]
    client_hint: ClassVar[str]

    @property
    def template(self) -> str:
        return f"proxy/auth/{self.name}.conf.j2"

    @property
    def proxy_flavor(self) -> Flavor:
        return FLAVORS[self.flavor]

    @property
    def worker_gid(self) -> int:
        """The gid of the proxy's workers; credential files are root:<gid> 0640."""
        return FLAVORS[self.flavor].worker_gid

    def template_context(self) -> dict[str, str]:
        """Values its template block needs beyond the main template's (realm, credential_file, conf_dir)."""
        return {}

    def image(self, settings: Settings) -> str:
        """The proxy image reference this mode runs, from its image setting."""
        return getattr(settings, self.image_setting)

    # --- Secrets -----------------------------------------------------------------------
    def new_value(self) -> str:
        """A fresh random value (the CLI's new value, the verification's wrong one)."""
        raise NotImplementedError

    def value_error(self, name: str, value: str, password_min_length: int) -> str | None:
        """Why ``value`` (a non-empty, trimmed, printable string) cannot be used; never quotes it."""
        raise NotImplementedError

    def credential_errors(self, credentials: Mapping[str, Secret], settings: Settings) -> list[str]:
        """Problems of the credentials one host accepts under its own settings."""
        return []

    def render_credentials(self, credentials: Mapping[str, Secret], settings: Settings,
                           key: bytes) -> str:
        """The content of ``credential_file``, a pure function of its arguments (``key``: the
        installation key, for modes that need one)."""
        raise NotImplementedError

    def file_entries(self, credentials: Mapping[str, Secret]) -> dict[str, int | None]:
        """What its credential file holds besides hashes, as the verification reads it back
        (facts.stack.CredentialNames): name -> the expiry the file carries (Unix seconds),
        or None. Only a mode whose proxy enforces expiry by itself writes one."""
        return {name: None for name in credentials}

    def service_name(self, name: str, value: str, key: bytes) -> str:
        """The name under which a gateway presents its service credential ``name`` (with
        ``value``) and a backend's credential file holds it. A mode that finds a line by
        name first gives each value a name of its own, so that a backend can accept a
        previous value beside the new one while the gateway switches (``key``: the
        installation key)."""
        return name

    def previous_name(self, name: str) -> str | None:
        """Where a backend's credential file keeps the previous value of a service
        credential whose values share the name ``name`` (see ``service_name``), or None
        when two values of one name cannot both be accepted."""
        return None

    # --- Probes --------------------------------------------------------------------------
    def authorization(self, name: str, value: str) -> str:
        """The Authorization header value a client sends for credential ``name``."""
        raise NotImplementedError

    def curl_option(self, name: str, value_expr: str) -> str:
        """curl's option for credential ``name`` whose value is the shell text ``value_expr``."""
        raise NotImplementedError

    def thingsboard_fields(self, name: str) -> str:
        """What goes in ThingsBoard's form for credential ``name`` (after ``summary_label``)."""
        raise NotImplementedError

    def wrong_credential(self, names: list[str]) -> tuple[str, str]:
        """(label, name) of the wrong credential the verification tries with a random value."""
        raise NotImplementedError

    def retired_identity(self, name: str, value: str) -> Hashable | None:
        """What the proxy matches a presented credential by, so a retired value that is
        still accepted is recognised; None when the value cannot be presented at all."""
        raise NotImplementedError

    def challenge(self, realm: str) -> str:
        """WWW-Authenticate of a request without credentials."""
        raise NotImplementedError

    def refusal(self, realm: str) -> str:
        """WWW-Authenticate of a request with wrong credentials."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<auth mode {self.name}>"


def random_token(nbytes: int) -> str:
    return _random.token_urlsafe(nbytes)
