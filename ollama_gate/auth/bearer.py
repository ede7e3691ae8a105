"""Bearer API keys: ``Authorization: Bearer <key>`` checked in Lua against SHA-256 digests
(official openresty/openresty image). No key is ever written to a host."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Hashable, Mapping

from ..credentials import keys_content
from .mode import AuthMode, random_token

if TYPE_CHECKING:
    from ..secrets_file import Secret
    from ..settings import Settings

KEY_MIN_LENGTH = 32
# The one statement of how strong generated keys are (see basic.PASSWORD_BITS).
KEY_BITS = 256
KEY_PREFIX = "og_"
# RFC 6750 b64token: what may follow "Bearer " in an Authorization header.
B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
LUA_FILE = "ollama_gate_auth.lua"


class Bearer(AuthMode):
    name = "bearer"
    section = "keys"
    value_kind = "key"
    new_command = "new-key"
    credential_file = "keys.sha256"
    flavor = "openresty"
    image_setting = "images_openresty"
    needs_lua = True
    proxy_files = (LUA_FILE,)
    summary_label = "Token"
    client_hint = "the Bearer key"

    def template_context(self) -> dict[str, str]:
        return {"lua_file": LUA_FILE}

    def new_value(self) -> str:
        return KEY_PREFIX + random_token(KEY_BITS // 8)

    def value_error(self, name: str, value: str, password_min_length: int) -> str | None:
        if len(value) < KEY_MIN_LENGTH:
            return (f"the key of {name!r} is shorter than {KEY_MIN_LENGTH} characters, too short to be "
                    f"secret; make one with: python -m ollama_gate rotate {name}")
        if not B64TOKEN.fullmatch(value):
            return (f"the key of {name!r} has characters a Bearer token cannot carry "
                    "(allowed: letters, digits, - . _ ~ + / and trailing =)")
        return None

    def render_credentials(self, credentials: Mapping[str, Secret], settings: Settings,
                           key: bytes) -> str:
        return keys_content(credentials)

    def file_entries(self, credentials: Mapping[str, Secret]) -> dict[str, int | None]:
        # The digest file carries each key's expiry; the Lua check refuses it from then on.
        return {name: int(s.expires.timestamp()) if s.expires else None for name, s in credentials.items()}

    def previous_name(self, name: str) -> str | None:
        # The Lua check finds a key by its digest alone: any second line accepts it too.
        return f"{name}.previous"

    def authorization(self, name: str, value: str) -> str:
        return f"Bearer {value}"

    def curl_option(self, name: str, value_expr: str) -> str:
        return f'-H "Authorization: Bearer {value_expr}"'

    def thingsboard_fields(self, name: str) -> str:
        return f"token: the value of '{name}'"

    def wrong_credential(self, names: list[str]) -> tuple[str, str]:
        return "(random key)", ""

    def retired_identity(self, name: str, value: str) -> Hashable | None:
        # The Lua check looks the key up by its digest alone; a value that is no b64token
        # is no key at all (the proxy answers 400), so it is not probed.
        return value if B64TOKEN.fullmatch(value) else None

    def challenge(self, realm: str) -> str:
        return f'Bearer realm="{realm}"'

    def refusal(self, realm: str) -> str:
        return f'{self.challenge(realm)}, error="invalid_token"'


MODE = Bearer()
