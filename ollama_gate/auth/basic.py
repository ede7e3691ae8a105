"""HTTP Basic: nginx's ``auth_basic`` against an .htpasswd file (official nginx image)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import TYPE_CHECKING, Hashable, Mapping

from ..credentials import htpasswd_content
from .mode import AuthMode, random_token

if TYPE_CHECKING:
    from ..secrets_file import Secret
    from ..settings import Settings

# The one statement of how strong generated passwords are (README and group_data/all.py
# quote it; tests/unit/test_docs_truth.py holds them to it).
PASSWORD_BITS = 192


class Basic(AuthMode):
    name = "basic"
    section = "users"
    value_kind = "password"
    new_command = "new-user"
    credential_file = "htpasswd"
    # Salts are HMACs under the installation key: the same secrets give the same file.
    needs_installation_key = True
    flavor = "nginx"
    image_setting = "images_nginx"
    summary_label = "Basic"
    client_hint = "username and password"

    def new_value(self) -> str:
        return random_token(PASSWORD_BITS // 8)

    def value_error(self, name: str, value: str, password_min_length: int) -> str | None:
        if len(value) < password_min_length:
            return (f"the password of {name!r} is shorter than auth_password_min_length "
                    f"({password_min_length}); make one with: python -m ollama_gate rotate {name}")
        return None

    def credential_errors(self, credentials: Mapping[str, Secret], settings: Settings) -> list[str]:
        return [f"auth_password_min_length: the password of {c.name!r} is shorter than "
                f"{settings.auth_password_min_length}"
                for c in credentials.values() if len(c.reveal()) < settings.auth_password_min_length]

    def render_credentials(self, credentials: Mapping[str, Secret], settings: Settings,
                           key: bytes) -> str:
        return htpasswd_content(credentials, settings.auth_htpasswd_scheme, key)

    def service_name(self, name: str, value: str, key: bytes) -> str:
        # nginx's auth_basic takes the FIRST line of the user's name and checks only that
        # one: a user name cannot have two passwords at once. So each value of a gateway's
        # service credential has a user name of its own, "<name>.<8 hex>": an HMAC under the
        # installation key (nothing to learn about the value from it), the same on every
        # render. A backend then holds the previous value on its own line while its gateway
        # switches (credentials.with_previous).
        tag = hmac.new(key, "\0".join(("ollama-gate service user", name, value)).encode("utf-8"),
                       hashlib.sha256).hexdigest()[:8]
        return f"{name}.{tag}"

    def authorization(self, name: str, value: str) -> str:
        return "Basic " + base64.b64encode(f"{name}:{value}".encode("utf-8")).decode("ascii")

    def curl_option(self, name: str, value_expr: str) -> str:
        return f'-u "{name}:{value_expr}"'

    def thingsboard_fields(self, name: str) -> str:
        return f"username: {name}; password: the value of '{name}'"

    def wrong_credential(self, names: list[str]) -> tuple[str, str]:
        # A known user with a wrong password (or an unknown user when there is none).
        user = names[0] if names else "ollama-gate-verify"
        return f"{user} (random password)", user

    def retired_identity(self, name: str, value: str) -> Hashable | None:
        return (name, value)

    def challenge(self, realm: str) -> str:
        return f'Basic realm="{realm}"'

    def refusal(self, realm: str) -> str:
        return self.challenge(realm)


MODE = Basic()
