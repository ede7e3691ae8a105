"""Auth modes: the exact texts a person reads when a mode name is wrong."""

import pytest

from ollama_gate import auth


def test_unknown_mode_lists_the_modes():
    with pytest.raises(auth.UnknownAuthMode) as exc:
        auth.mode("digest")
    assert str(exc.value) == "auth_mode: 'digest' is not an auth mode (one of 'basic', 'bearer')"
    with pytest.raises(auth.UnknownAuthMode):
        auth.mode(["basic"])  # unhashable: still "not a mode", never a TypeError
    with pytest.raises(ValueError, match="'admins' is no section of any auth mode"):
        auth.by_section("admins")
    assert auth.by_section("keys") is auth.mode("bearer")
    assert auth.SECTIONS == {"basic": "users", "bearer": "keys"}


def test_bearer_keys_of_32_characters_and_more_pass_shorter_or_odd_ones_are_refused_by_name():
    bearer = auth.mode("bearer")
    assert bearer.value_error("ci", "k" * 32, 20) is None
    assert bearer.value_error("ci", "Ab0-._~+/" * 4 + "==", 20) is None
    assert bearer.value_error("ci", "k" * 31, 20) == (
        "the key of 'ci' is shorter than 32 characters, too short to be secret; "
        "make one with: python -m ollama_gate rotate ci")
    assert bearer.value_error("ci", "k" * 40 + "=x", 20) == (
        "the key of 'ci' has characters a Bearer token cannot carry "
        "(allowed: letters, digits, - . _ ~ + / and trailing =)")


def test_basic_passwords_at_the_minimum_length_pass():
    basic = auth.mode("basic")
    assert basic.value_error("alice", "p" * 12, 12) is None
    assert basic.value_error("alice", "p" * 11, 12) == (
        "the password of 'alice' is shorter than auth_password_min_length (12); "
        "make one with: python -m ollama_gate rotate alice")
