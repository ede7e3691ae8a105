"""Credential files: .htpasswd for nginx auth_basic and SHA-256 key digests for the Lua check.

Both are rendered locally (no secret goes to a remote command line) and are pure functions
of the secrets: a rerun with the same secrets gives the same bytes. The .htpasswd salts are
HMACs under the secrets file's per-installation key, so nothing is read back from the host.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import TYPE_CHECKING, Mapping, Sequence

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
_KEYS_HEADER = ("# Managed by ollama-gate: name:sha256(key) per line, never the key itself; a third\n"
                "# field is the Unix time from which the proxy refuses the key (its expiry).\n")


def parse_credential_lines(text: str | None) -> dict[str, str]:
    """name -> hash (or digest) from an htpasswd-style file; comments and blanks skipped."""
    out: dict[str, str] = {}
    for line in (text or "").splitlines():
        if not line.strip() or line.lstrip().startswith("#") or ":" not in line:
            continue
        name, _, value = line.partition(":")
        out[name] = value.strip()
    return out


# Salt alphabets of the crypt(3) schemes (passlib's hash64 and bcrypt's base64).
_HASH64 = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_BCRYPT64 = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def derived_salt(key: bytes, scheme: str, name: str, password: str):
    """The salt of ``name``'s line: HMAC-SHA256 under the installation key of the scheme,
    name and password. Unpredictable without the key, unique per installation and user, and
    the same on every render, so a changed password (or scheme) gets a new salt and nothing
    else does."""
    digest = hmac.new(key, "\0".join(("ollama-gate htpasswd salt", scheme, name, password)).encode("utf-8"),
                      hashlib.sha256).digest()
    if scheme == "ssha":
        return digest[:16]
    if scheme == "apr1":
        return "".join(_HASH64[b % 64] for b in digest[:8])
    if scheme == "sha512_crypt":
        return "".join(_HASH64[b % 64] for b in digest[:16])
    # bcrypt: 22 characters whose last one carries only 2 significant bits.
    return "".join(_BCRYPT64[b % 64] for b in digest[:21]) + ".Oeu"[digest[21] % 4]


def htpasswd_content(users: Mapping[str, Secret], scheme: str, key: bytes) -> str:
    """The .htpasswd text for ``users``: a pure function of the passwords, the scheme and
    the installation key (``derived_salt``), so a rerun renders the same bytes without
    reading the host's file, and no hash ever has to be read back or shown."""
    if len(key) < 16:
        raise ValueError("htpasswd_content needs the installation key (secrets file installation_key)")
    hasher = HASHERS[scheme]
    lines = [_HTPASSWD_HEADER]
    for name in sorted(users):
        password = users[name].reveal()
        salt = derived_salt(key, scheme, name, password)
        lines.append(f"{name}:{hasher.using(salt=salt).hash(password)}\n")
    return "".join(lines)


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _key_line(secret: Secret) -> str:
    line = f"{secret.name}:{key_digest(secret.reveal())}"
    if secret.expires is not None:
        # The Lua check refuses the key from this second on, without waiting for a rerun.
        line += f":{int(secret.expires.timestamp())}"
    return line + "\n"


def keys_content(keys: Mapping[str, Secret]) -> str:
    """The bearer key file: ``name:sha256hex[:expires_unix]`` per line, sorted by name."""
    return _KEYS_HEADER + "".join(_key_line(keys[name]) for name in sorted(keys))


# --- A gateway's service credential rotated: its backends accept both values a while ----

def line_digest(line: str) -> str:
    """SHA-256 of one credential file line (without its newline), as CredentialLineDigests
    reads it from the host: enough to recognise a line, nothing to guess a value from."""
    return hashlib.sha256(line.encode("utf-8")).hexdigest()


def entry_lines(content: str) -> dict[str, str]:
    """name -> its line, for the entries of a credential file's text."""
    return {line.split(":", 1)[0]: line for line in content.splitlines()
            if line.strip() and not line.startswith("#") and ":" in line}


def with_previous(content: str, previous_name: str | None, host_lines: Mapping[str, str],
                  candidates: Sequence[str]) -> str | None:
    """The credential file a backend holds while its gateway switches to a new service
    credential: the wanted ``content`` plus the line of the value the host accepts now (so
    the gateway's requests with it still get in until the gateway has reloaded with the new
    one). None when there is nothing to keep: no rotation, a first deploy, or a current
    value that is none of ``candidates``.

    + content: the wanted file (the final one)
    + previous_name: where a value goes whose line name the wanted file already has (bearer:
      values share the service's name; ``AuthMode.previous_name``), None when it cannot
    + host_lines: name -> ``line_digest`` of each line of the host's file now
    + candidates: the mode's files of each earlier value of the service credential alone
      (its retired values, and the current value as an older version named it): the lines
      the host's file may hold for the service

    What is recognised is the digest of a whole line; the line itself is rendered here
    from the secrets file, so no hash is ever read back from the host. A run killed before
    the final file was written left the previous line in place: it is kept again.
    """
    wanted = entry_lines(content)
    wanted_digests = {line_digest(line) for line in wanted.values()}
    for text in candidates:
        for name, line in entry_lines(text).items():
            rest = line.split(":", 1)[1]
            if line_digest(line) in wanted_digests:
                continue  # wanted as it is (a value rotated back)
            if host_lines.get(name) == line_digest(line) and name not in wanted:
                return content + line + "\n"  # a name of its own: kept as it is (basic)
            if previous_name is None:
                continue
            if host_lines.get(name) == line_digest(line) or \
                    host_lines.get(previous_name) == line_digest(f"{previous_name}:{rest}"):
                return content + f"{previous_name}:{rest}\n"
    return None


def service_candidates(mode, service: str, refused: Sequence[Secret], credentials: Mapping[str, Secret],
                       settings, key: bytes) -> list[str]:
    """``with_previous``'s candidates on a backend: the mode's file of each value of the
    gateway's service credential ``service`` the host may hold now, alone: its retired
    values, and its current value under the plain name an older ollama-gate gave it
    (basic names each value, ``AuthMode.service_name``)."""
    from .secrets_file import Secret

    values = [old for old in refused if old.name == service]
    values += [v for n, v in credentials.items() if n == mode.service_name(service, v.reveal(), key)]
    files = []
    for value in values:
        for name in dict.fromkeys((mode.service_name(service, value.reveal(), key), service)):
            files.append(mode.render_credentials({name: Secret(name, value.reveal(), value.expires)}, settings,
                                                 key=key))
    return files
