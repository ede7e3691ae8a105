"""Credential files: .htpasswd for nginx auth_basic and SHA-256 key digests for the Lua check.

Both are rendered locally (no secret goes to a remote command line). A rerun with the same
secrets must give the same bytes, so .htpasswd keeps every existing line whose hash still
verifies its password, and only new or changed users get a new (salted) hash.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Mapping

from passlib.hash import apr_md5_crypt, bcrypt, ldap_salted_sha1, sha512_crypt

if TYPE_CHECKING:
    # Only a type here: the auth modes import this module, and the secrets file imports them.
    from .secrets_file import Secret

# The file names and which mode renders which: ollama_gate/auth/ (AuthMode.credential_file).

# Hashers nginx's auth_basic understands ({SSHA} natively, the others through crypt(3)).
# nginx hashes the presented password on every request, so cost is paid per request:
# sha512_crypt keeps glibc's default 5000 rounds, bcrypt the minimum sensible cost 5.
HASHERS = {
    "ssha": ldap_salted_sha1.using(salt_size=16),
    "apr1": apr_md5_crypt,
    "sha512_crypt": sha512_crypt.using(rounds=5000),
    "bcrypt": bcrypt.using(rounds=5, ident="2y"),
}

_HTPASSWD_HEADER = "# Managed by ollama-gate: changes by hand are replaced on the next deploy.\n"
_KEYS_HEADER = "# Managed by ollama-gate: name:sha256(key) per line, never the key itself.\n"


def parse_credential_lines(text: str | None) -> dict[str, str]:
    """name -> hash (or digest) from an htpasswd-style file; comments and blanks skipped."""
    out: dict[str, str] = {}
    for line in (text or "").splitlines():
        if not line.strip() or line.lstrip().startswith("#") or ":" not in line:
            continue
        name, _, value = line.partition(":")
        out[name] = value.strip()
    return out


def _scheme_of(hash_: str) -> str | None:
    for scheme, hasher in HASHERS.items():
        if hasher.identify(hash_):
            return scheme
    return None


def _still_valid(hash_: str, password: str, scheme: str) -> bool:
    if _scheme_of(hash_) != scheme:
        return False
    hasher = HASHERS[scheme]
    try:
        # Keep a line only if it verifies and already has the cost we would use now.
        return hasher.verify(password, hash_) and not hasher.needs_update(hash_)
    except ValueError:
        return False


def htpasswd_content(users: Mapping[str, Secret], scheme: str, current: str | None = None) -> str:
    """The .htpasswd text for ``users``, reusing every line of ``current`` that still fits."""
    existing = parse_credential_lines(current)
    hasher = HASHERS[scheme]
    lines = [_HTPASSWD_HEADER]
    for name in sorted(users):
        password = users[name].reveal()
        old = existing.get(name)
        hash_ = old if old is not None and _still_valid(old, password, scheme) else hasher.hash(password)
        lines.append(f"{name}:{hash_}\n")
    return "".join(lines)


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def keys_content(keys: Mapping[str, Secret]) -> str:
    """The bearer key file: ``name:sha256hex`` per line, sorted by name."""
    return _KEYS_HEADER + "".join(f"{name}:{key_digest(keys[name].reveal())}\n" for name in sorted(keys))
