"""Credential files: stable bytes on rerun, one line changed on rotation, nginx formats."""

import hashlib
import re

import pytest

from ollama_gate.credentials import HASHERS, htpasswd_content, keys_content, parse_credential_lines
from ollama_gate.secrets_file import Secret

USERS = {n: Secret(n, f"{n}-password-0123456789") for n in ("carol", "alice", "bob")}
# The prefixes nginx's auth_basic accepts (ngx_crypt.c: {SSHA}, $apr1$, crypt(3) for $6$/$2y$).
FORMATS = {"ssha": r"\{SSHA\}[A-Za-z0-9+/=]{48}", "apr1": r"\$apr1\$[./0-9A-Za-z]{8}\$[./0-9A-Za-z]{22}",
           "sha512_crypt": r"\$6\$[./0-9A-Za-z]{16}\$[./0-9A-Za-z]{86}", "bcrypt": r"\$2y\$05\$[./0-9A-Za-z]{53}"}


@pytest.mark.parametrize("scheme", HASHERS)
def test_rerun_with_same_secrets_keeps_bytes(scheme):
    first = htpasswd_content(USERS, scheme)
    assert htpasswd_content(USERS, scheme, first) == first
    # Salted: a fresh render differs, which is why the current file must be read back.
    assert htpasswd_content(USERS, scheme) != first


@pytest.mark.parametrize("scheme", HASHERS)
def test_lines_have_the_nginx_format_and_verify(scheme):
    content = htpasswd_content(USERS, scheme)
    entries = parse_credential_lines(content)
    assert list(entries) == ["alice", "bob", "carol"]
    for name, hash_ in entries.items():
        assert re.fullmatch(FORMATS[scheme], hash_), hash_
        assert HASHERS[scheme].verify(f"{name}-password-0123456789", hash_)
        assert "password" not in hash_


def test_changed_password_changes_only_that_line():
    first = htpasswd_content(USERS, "ssha").splitlines()
    changed = dict(USERS, bob=Secret("bob", "a-brand-new-password-xyz"))
    second = htpasswd_content(changed, "ssha", "\n".join(first)).splitlines()
    assert [a == b for a, b in zip(first, second)] == [True, True, False, True]


def test_removed_user_removes_only_that_line():
    first = htpasswd_content(USERS, "apr1").splitlines()
    second = htpasswd_content({k: v for k, v in USERS.items() if k != "bob"}, "apr1", "\n".join(first)).splitlines()
    assert second == [line for line in first if not line.startswith("bob:")]


def test_scheme_change_rehashes():
    first = htpasswd_content(USERS, "apr1")
    second = htpasswd_content(USERS, "ssha", first)
    assert all(h.startswith("{SSHA}") for h in parse_credential_lines(second).values())


def test_keys_file_holds_only_digests():
    keys = {"ci": Secret("ci", "og_" + "a" * 40), "laptop": Secret("laptop", "og_" + "b" * 40)}
    content = keys_content(keys)
    assert "og_" not in content
    assert parse_credential_lines(content) == {
        "ci": hashlib.sha256(b"og_" + b"a" * 40).hexdigest(),
        "laptop": hashlib.sha256(b"og_" + b"b" * 40).hexdigest(),
    }
    assert keys_content(keys) == content
