"""--expires and how expiries are written: the moment a credential stops working."""

import datetime as dt

import pytest

from ollama_gate import secrets_file as sf
from ollama_gate.secrets_file import ConfigError

NOW = dt.datetime(2026, 11, 27, 17, 30, 15, 123456, tzinfo=dt.timezone.utc)


@pytest.mark.parametrize("text,want", [
    ("30d", dt.date(2026, 12, 27)),
    ("2w", dt.date(2026, 12, 11)),
    ("1d", dt.date(2026, 11, 28)),
    ("12h", dt.datetime(2026, 11, 28, 5, 30, 15, tzinfo=dt.timezone.utc)),
    ("90m", dt.datetime(2026, 11, 27, 19, 0, 15, tzinfo=dt.timezone.utc)),
    ("1m", dt.datetime(2026, 11, 27, 17, 31, 15, tzinfo=dt.timezone.utc)),
    ("2027-01-31", dt.date(2027, 1, 31)),
    ("2027-01-31T12:00:00Z", dt.datetime(2027, 1, 31, 12, tzinfo=dt.timezone.utc)),
])
def test_expires_forms(text, want):
    assert sf.expiry_from_cli(text, NOW) == want


@pytest.mark.parametrize("text", ["0d", "0h", "2026-11-27", "2026-11-27T17:30:00Z", "yesterday", "-1d"])
def test_expires_in_the_past_or_unreadable_is_refused(text):
    with pytest.raises(ConfigError) as exc:
        sf.expiry_from_cli(text, NOW)
    assert exc.value.errors[0].startswith(f"--expires {text!r} ")


def test_expiry_text():
    assert sf.expiry_text(dt.datetime(2027, 1, 31, tzinfo=dt.timezone.utc)) == "2027-01-31"
    assert sf.expiry_text(dt.datetime(2027, 1, 31, 0, 0, 1, tzinfo=dt.timezone.utc)) == "2027-01-31T00:00:01Z"
    assert sf.expiry_text(dt.datetime(2027, 1, 31, 12, 5, 0, tzinfo=dt.timezone.utc)) == "2027-01-31T12:05:00Z"
