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
