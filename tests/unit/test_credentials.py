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


KEY = bytes.fromhex("5c" * 32)  # an installation key (the secrets file's installation_key)


@pytest.mark.parametrize("scheme", HASHERS)
def test_the_file_is_a_pure_function_of_the_secrets(scheme):
    first = htpasswd_content(USERS, scheme, KEY)
    assert htpasswd_content(USERS, scheme, KEY) == first  # nothing read back from the host
    # Another installation: other salts, so other hashes of the same passwords.
    other = htpasswd_content(USERS, scheme, bytes.fromhex("a3" * 32))
    assert all(a != b for a, b in zip(first.splitlines()[1:], other.splitlines()[1:]))
    # Two users with one password still get different salts.
    same = {n: Secret(n, "one-shared-password-0123456789") for n in ("x", "y")}
    assert len(set(parse_credential_lines(htpasswd_content(same, scheme, KEY)).values())) == 2


def test_no_key_no_file():
    with pytest.raises(ValueError, match="installation key"):
        htpasswd_content(USERS, "ssha", b"")
    with pytest.raises(ValueError, match="installation key"):
        htpasswd_content(USERS, "ssha", KEY[:15])
    # 16 bytes (128 bits) is the shortest key salts are made under.
    assert parse_credential_lines(htpasswd_content(USERS, "ssha", KEY[:16])).keys() == USERS.keys()


@pytest.mark.parametrize("scheme", HASHERS)
def test_lines_have_the_nginx_format_and_verify(scheme):
    content = htpasswd_content(USERS, scheme, KEY)
    entries = parse_credential_lines(content)
    assert list(entries) == ["alice", "bob", "carol"]
    for name, hash_ in entries.items():
        assert re.fullmatch(FORMATS[scheme], hash_), hash_
        assert HASHERS[scheme].verify(f"{name}-password-0123456789", hash_)
        assert "password" not in hash_


def test_changed_password_changes_only_that_line():
    first = htpasswd_content(USERS, "ssha", KEY).splitlines()
    changed = dict(USERS, bob=Secret("bob", "a-brand-new-password-xyz"))
    second = htpasswd_content(changed, "ssha", KEY).splitlines()
    assert [a == b for a, b in zip(first, second)] == [True, True, False, True]


def test_removed_user_removes_only_that_line():
    first = htpasswd_content(USERS, "apr1", KEY).splitlines()
    second = htpasswd_content({k: v for k, v in USERS.items() if k != "bob"}, "apr1", KEY).splitlines()
    assert second == [line for line in first if not line.startswith("bob:")]


def test_scheme_change_rehashes():
    second = htpasswd_content(USERS, "ssha", KEY)
    assert all(h.startswith("{SSHA}") for h in parse_credential_lines(second).values())
    assert parse_credential_lines(second) != parse_credential_lines(htpasswd_content(USERS, "apr1", KEY))


def test_keys_file_holds_only_digests():
    keys = {"ci": Secret("ci", "og_" + "a" * 40), "laptop": Secret("laptop", "og_" + "b" * 40)}
    content = keys_content(keys)
    assert "og_" not in content
    assert parse_credential_lines(content) == {
        "ci": hashlib.sha256(b"og_" + b"a" * 40).hexdigest(),
        "laptop": hashlib.sha256(b"og_" + b"b" * 40).hexdigest(),
    }
    assert keys_content(keys) == content


def test_installation_key_is_appended_once_and_kept(tmp_path):
    from ollama_gate.secrets_file import add, ensure_installation_key, load_secrets

    path = tmp_path / "secrets.yml"
    original = "# my comment\nusers:\n  alice: 'alice-password-0123456789ab'  # keep me\n"
    path.write_text(original)
    assert load_secrets(path).installation_key is None
    assert ensure_installation_key(path) is True
    text = path.read_text()
    assert text.startswith(original)  # every byte the operator wrote stays
    key = load_secrets(path).installation_key.reveal()
    assert len(key) == 64 and key not in repr(load_secrets(path))
    assert ensure_installation_key(path) is False and path.read_text() == text
    add(path, "keys", "ci")  # a CLI write keeps it
    assert load_secrets(path).installation_key.reveal() == key
    path.write_text(original + 'installation_key: "not-hex"\n')
    with pytest.raises(Exception, match="64 hex digits"):
        load_secrets(path)


def test_a_rotation_names_the_changed_credentials_only():
    from ollama_gate.operations.credentials import name_changes

    before = htpasswd_content(USERS, "ssha", KEY)
    digests = {line.split(":", 1)[0]: hashlib.sha256(line.encode()).hexdigest()
               for line in before.splitlines() if not line.startswith("#")}
    after = htpasswd_content({**{k: v for k, v in USERS.items() if k != "carol"},
                              "bob": Secret("bob", "a-brand-new-password-xyz"),
                              "dave": Secret("dave", "dave-password-0123456789")}, "ssha", KEY)
    assert name_changes(digests, after) == {"added": ["dave"], "changed": ["bob"], "removed": ["carol"]}
    assert name_changes(digests, before) == {"added": [], "changed": [], "removed": []}


def test_credential_lines_are_read_as_the_proxy_reads_them():
    # The name ends at the first ':' (names never hold one); comments may be indented.
    text = ("# header: not an entry\n"
            "   # indented comment: not an entry\n"
            "\n"
            "ci:0123abcd:1798761600\n"
            "no colon here\n"
            "alice:{SSHA}abc=  \n")
    assert parse_credential_lines(text) == {"ci": "0123abcd:1798761600", "alice": "{SSHA}abc="}
    assert parse_credential_lines(None) == {} and parse_credential_lines("") == {}
