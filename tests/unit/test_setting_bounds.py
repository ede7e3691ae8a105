"""Bounds of the numeric auth settings: the edges pass, one past them is refused by name."""

import pytest

from ollama_gate.config import check_hosts
from ollama_gate.settings import ConfigError, settings_from_data


@pytest.mark.parametrize("value", [12, 13, 20, 1023, 1024])
def test_password_min_length_inside_the_bounds_passes(value):
    assert settings_from_data({"auth_password_min_length": value}).auth_password_min_length == value


@pytest.mark.parametrize("value", [11, 0, -1, 1025, 10**6, True, "twenty", None])
def test_password_min_length_outside_the_bounds_is_refused(value):
    with pytest.raises(ConfigError) as exc:
        settings_from_data({"auth_password_min_length": value})
    assert len(exc.value.errors) == 1
    assert exc.value.errors[0].startswith("auth_password_min_length: ")


def test_password_min_length_is_enforced_at_its_value(tmp_path):
    """A password exactly as long as the minimum passes; one character shorter does not."""
    path = tmp_path / "secrets.yml"
    path.write_text("users:\n  alice: Xq7vLp2Rk9tZw4Nc8HjB3s\n")  # 22 characters
    assert list(check_hosts([("h", {"auth_password_min_length": 22})], tmp_path, path)["h"].credentials) == ["alice"]
    with pytest.raises(ConfigError) as exc:
        check_hosts([("h", {"auth_password_min_length": 23})], tmp_path, path)
    assert any("alice" in e and "23" in e for e in exc.value.errors), exc.value.errors


@pytest.mark.parametrize("name,low,high", [("auth_fail_limit", 1, 100000), ("proxy_port", 1, 65535),
                                           ("proxy_read_timeout", 1, 86400)])
def test_other_bounds(name, low, high):
    assert getattr(settings_from_data({name: low}), name) == low
    assert getattr(settings_from_data({name: high}), name) == high
    for bad in (low - 1, high + 1):
        with pytest.raises(ConfigError) as exc:
            settings_from_data({name: bad})
        assert exc.value.errors[0].startswith(f"{name}: ")
