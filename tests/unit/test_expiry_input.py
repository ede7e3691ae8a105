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


def test_a_zero_duration_is_refused_as_not_in_the_future():
    with pytest.raises(ConfigError) as exc:
        sf.expiry_from_cli("0d", NOW)
    assert exc.value.errors == ["--expires '0d' must be in the future (examples: 30d, 2w, 12h, 90m, "
                                "2027-01-31, 2027-01-31T12:00:00Z)"]


def test_an_expiry_at_this_very_second_is_already_past():
    now = NOW.replace(microsecond=0)
    with pytest.raises(ConfigError) as exc:
        sf.expiry_from_cli("2026-11-27T17:30:15Z", now)
    assert exc.value.errors == ["--expires '2026-11-27T17:30:15Z' is not in the future"]
    assert sf.expiry_from_cli("2026-11-27T17:30:16Z", now) == dt.datetime(2026, 11, 27, 17, 30, 16,
                                                                          tzinfo=dt.timezone.utc)


def test_without_a_given_now_durations_count_from_the_current_utc_time():
    before = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    got = sf.expiry_from_cli("2h")
    after = dt.datetime.now(dt.timezone.utc)
    assert got.tzinfo is not None and got.utcoffset() == dt.timedelta(0)
    assert before + dt.timedelta(hours=2) <= got <= after + dt.timedelta(hours=2)
    assert sf.expiry_from_cli("1d") in {(before + dt.timedelta(days=1)).date(), (after + dt.timedelta(days=1)).date()}
