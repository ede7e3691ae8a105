"""The .htpasswd salts: derived from the installation key, and the same in every version.

A salt that changed between versions would rewrite every .htpasswd line on the first
rerun after an upgrade; so the derivation is pinned here by known answers (the SSHA one
is recomputed independently from its definition)."""

import hashlib
import hmac

import pytest

from ollama_gate.credentials import derived_salt

KEY = bytes(range(32))
PASSWORD = "Xq7vLp2Rk9tZw4Nc8HjB3sDf6G"
KNOWN = {
    "alice": {"apr1": "0VFTLl7V", "sha512_crypt": "nX5cKp5uo6Fefx4Z", "bcrypt": "rHvPp2GijdtY8b7r/8HAOe"},
    "bob": {"apr1": "/YLYPLWt", "sha512_crypt": "qJ8AZBgObPRpkrU7", "bcrypt": "tXAaA1BNZ26Tra16nlqhX."},
    "carol": {"apr1": "DVl70PXH", "sha512_crypt": "l0dssmHzdUba350L", "bcrypt": "l//gEUdH0H326C6I0pL3Me"},
    "dave": {"apr1": "3fZ72btq", "sha512_crypt": "9gSBdLFPegsxLcAq", "bcrypt": "1JtldlSNb0eyG8yA5YpKte"},
}


@pytest.mark.parametrize("name", sorted(KNOWN))
def test_known_salts(name):
    msg = "\0".join(("ollama-gate htpasswd salt", "ssha", name, PASSWORD)).encode("utf-8")
    assert derived_salt(KEY, "ssha", name, PASSWORD) == hmac.new(KEY, msg, hashlib.sha256).digest()[:16]
    for scheme, salt in KNOWN[name].items():
        assert derived_salt(KEY, scheme, name, PASSWORD) == salt, scheme


def test_salts_change_with_key_name_password_and_scheme():
    base = derived_salt(KEY, "apr1", "alice", PASSWORD)
    assert derived_salt(bytes(32), "apr1", "alice", PASSWORD) != base
    assert derived_salt(KEY, "apr1", "alicf", PASSWORD) != base
    assert derived_salt(KEY, "apr1", "alice", PASSWORD + "x") != base
    assert derived_salt(KEY, "sha512_crypt", "alice", PASSWORD)[:8] != base


def test_bcrypt_salts_end_in_a_valid_padding_character_and_hash_without_warnings():
    # bcrypt's 22nd salt character carries 2 bits: only . O e u are valid there. Another
    # one makes passlib warn (printed amid pyinfra's output; an error from Passlib 2.0 on).
    import warnings

    from ollama_gate.credentials import htpasswd_content
    from ollama_gate.secrets_file import Secret

    users = {f"user{i}": Secret(f"user{i}", PASSWORD) for i in range(64)}
    last = {derived_salt(KEY, "bcrypt", name, PASSWORD)[-1] for name in users}
    assert last == set(".Oeu")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lines = htpasswd_content(users, "bcrypt", KEY).splitlines()[1:]
    assert len(lines) == 64
