"""Reading the secrets file: every problem is reported, each once, in full and by name
(line numbers, names, sections), and never with a value."""

import datetime as dt
import time

import pytest

from ollama_gate import secrets_file as sf
from ollama_gate.secrets_file import ConfigError, load_secrets

PW = "Xq7vLp2Rk9tZw4Nc8HjB3sDf6G"
PW2 = "Hm4tQw9Zr2Lk7Vc5Nx8Bp3Jd6F"
LONG = "secrets file 'users': {} must be a value or a mapping with 'value:' and optionally 'expires:'"


def errors_of(path, text, **kwargs):
    path.write_text(text)
    with pytest.raises(ConfigError) as exc:
        load_secrets(path, **kwargs)
    for value in (PW, PW2):
        assert value not in " ".join(exc.value.errors)
    return exc.value.errors


@pytest.mark.parametrize("text,errors", [
    (f"users:\n  alice: {PW}\n  bob: {PW2}\n  alice: x\n",
     ["secrets file line 4: the name 'alice' appears twice (first on line 2); names must be unique"]),
    (f"users:\n  a: {{value: {PW}, note: x, owner: y}}\n  b: {{expires: 2027-01-01}}\n",
     [LONG.format("'a'") + " (unknown: note, owner)", LONG.format("'b'")]),
    # A bad expiry is one problem: the value is not also compared with the others.
    (f"users:\n  a: {{value: {PW}, expires: soon}}\n  b: {PW}\n",
     ["secrets file 'users': 'expires' of 'a' is not a date (2027-01-31) or a date and time "
      "(2027-01-31T12:00:00Z)"]),
    (f"users:\n  a: {{value: {PW}, expires: 12}}\n",
     ["secrets file 'users': 'expires' of 'a' must be a date (2027-01-31) or a date and time, got int"]),
    ("retired: [a]\n", ["secrets file: 'retired' must map names to lists of old values (written by rotate/remove)"]),
    ("retired:\n  a: xyz\n", ["secrets file: 'retired' must map names to lists of old values (written by rotate/remove)"]),
    ("retired:\n  a: [1]\n", ["secrets file: 'retired' must map names to lists of old values (written by rotate/remove)"]),
    (f"users:\n  alice: {PW}\n  'a:b': {PW2}\n  '#c': {PW2}\n  '': {PW2}\n  no: {PW2}\n", [
        "secrets file 'users': the name 'a:b' contains ':', which separates name and hash in the credential files",
        "secrets file 'users': the name '#c' starts with '#', which marks a comment in the credential files",
        "secrets file 'users': a name is empty",
        "secrets file 'users': the name False was read by YAML as bool; quote it so it stays a string"]),
    (f"users:\n  {'n' * 64}: {PW}\n  {'m' * 65}: {PW2}\n",
     ["secrets file 'users': the name 'mmmmmmmmmmmmmmmmmmmm'... is longer than 64 characters"]),
    (f"users:\n  alice: ''\n  bob: ' {PW2}'\n  carol: 5\n  dave: \"a\\tb{PW}\"\n", [
        "secrets file 'users': the password of 'alice' is empty",
        "secrets file 'users': the password of 'bob' starts or ends with whitespace",
        "secrets file 'users': the password of 'carol' was read by YAML as int, not as text; quote it "
        "(YAML turns no/on/0123/12:30 into other types)",
        "secrets file 'users': the password of 'dave' contains control characters"]),
    (f"users:\n  a: {PW}\n  b: {PW}\n  c: {PW}\n", [
        "secrets file 'users': 'b' has the same value as 'a'; every credential must be unique",
        "secrets file 'users': 'c' has the same value as 'a'; every credential must be unique"]),
    (f"userz:\n  a: {PW}\nkey: {{}}\n", [
        "secrets file: unknown section 'userz' (expected 'users', 'keys' or 'retired') (did you mean 'users'?)",
        "secrets file: unknown section 'key' (expected 'users', 'keys' or 'retired') (did you mean 'keys'?)"]),
    ("installation_key: abc\n", ["secrets file: installation_key must be 64 hex digits as the CLI makes it "
                                 "(changing it changes every .htpasswd line on the next deploy)"]),
])
def test_every_problem_in_full(tmp_path, text, errors):
    assert errors_of(tmp_path / "s.yml", text) == errors


def test_the_file_itself_is_named_when_it_is_not_a_mapping_or_not_yaml(tmp_path):
    path = tmp_path / "s.yml"
    assert errors_of(path, "- a\n") == [f"OLLAMA_GATE_SECRETS: {str(path)!r} must be a mapping with 'users:' "
                                        "and/or 'keys:'"]
    assert errors_of(path, "users:\n  a: [x\n") == [f"OLLAMA_GATE_SECRETS: {str(path)!r} is not valid YAML at line 3"]


def test_a_weak_password_says_why_and_how_to_make_a_random_one(tmp_path):
    name = "Kv9rTq2mXwPz8Ld3"  # random-looking, so only its use in the password is weak
    assert errors_of(tmp_path / "s.yml", f"users:\n  {name}: {name}-1\n  b: Password123456789\n",
                     password_min_length=12) == [
        f"secrets file 'users': the password of {name!r} is a known-weak pattern (about 10^5 guesses by "
        f"zxcvbn, 10^12 needed); make a random one with: ollama-gate rotate {name}",
        "secrets file 'users': the password of 'b' is a known-weak pattern (about 10^4 guesses by zxcvbn, "
        "10^12 needed: This is similar to a commonly used password); make a random one with: ollama-gate rotate b"]


def test_defaults_a_twenty_character_password_and_the_path_from_the_variable(tmp_path, monkeypatch):
    path = tmp_path / "elsewhere.yml"
    path.write_text(f"users:\n  a: {PW[:20]}\n"
                    f"installation_key: \"{'ab' * 32}\"\n")
    monkeypatch.setenv(sf.ENV_VAR, str(path))
    secrets = load_secrets()
    assert secrets.path == path and secrets.users["a"].reveal() == PW[:20]
    assert secrets.installation_key.name == "installation_key" and secrets.installation_key.reveal() == "ab" * 32


def test_retired_values_keep_their_names(tmp_path):
    path = tmp_path / "s.yml"
    path.write_text(f"users:\n  a: {PW}\nretired:\n  bob: [\"{PW2}\", old-value]\n")
    retired = load_secrets(path).retired
    assert {n: [(s.name, s.reveal()) for s in v] for n, v in retired.items()} == \
        {"bob": [("bob", PW2), ("bob", "old-value")]}


def test_expiries_with_an_offset_or_none_are_utc_whatever_the_machines_zone(tmp_path, monkeypatch):
    # No time zone means UTC (as YAML says), not the local time of whoever runs the deploy.
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        utc = dt.timezone.utc
        assert sf.parse_expiry("2027-01-31T12:00:00") == dt.datetime(2027, 1, 31, 12, tzinfo=utc)
        assert sf.parse_expiry(dt.datetime(2027, 1, 31, 12)) == dt.datetime(2027, 1, 31, 12, tzinfo=utc)
        moment = sf.parse_expiry("2027-01-31T12:00:00+02:00")
        assert moment == dt.datetime(2027, 1, 31, 10, tzinfo=utc) and moment.utcoffset() == dt.timedelta(0)
        assert sf.expiry_text(moment) == "2027-01-31T10:00:00Z"
        assert sf.parse_expiry("2027-01-31") == dt.datetime(2027, 1, 31, tzinfo=utc)
        assert sf.expiry_text(sf.parse_expiry(dt.date(2027, 1, 31))) == "2027-01-31"
    finally:
        monkeypatch.undo()
        time.tzset()


def test_an_unreadable_file_says_why_in_words(tmp_path, monkeypatch):
    path = tmp_path / "s.yml"
    path.write_text("users: {}\n")

    def refuse(self):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(type(path), "read_bytes", refuse)
    with pytest.raises(ConfigError) as exc:
        load_secrets(path)
    assert exc.value.errors == [f"OLLAMA_GATE_SECRETS: the secrets file {str(path)!r} cannot be read "
                                "(Permission denied)"]


def test_a_control_character_is_named_by_its_line_never_quoted(tmp_path):
    path = tmp_path / "s.yml"
    assert errors_of(path, f'users:\n  bob: "{PW2}"\n  alice: "{PW[:8]}\x07{PW[8:]}"\n') == [
        f"OLLAMA_GATE_SECRETS: {str(path)!r} is not valid YAML at line 3 (a control character)"]


def test_an_entry_mapping_without_expires_never_expires(tmp_path):
    path = tmp_path / "s.yml"
    path.write_text(f'users:\n  alice: {{value: "{PW}"}}\n')
    alice = load_secrets(path).users["alice"]
    assert (alice.reveal(), alice.expires) == (PW, None)
