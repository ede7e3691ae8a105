"""Secrets file: bad entries are refused by name, values never shown."""

import pytest

from ollama_gate.config import check_hosts
from ollama_gate.secrets_file import ConfigError, Secret, credentials_for, load_secrets

GOOD_PW = "correct-horse-battery-staple-42"
GOOD_KEY = "og_Qm7vX2pLk9RtZ4wNc8HjB3sDf6GyA1eU5oIi0"


def write(tmp_path, text):
    path = tmp_path / "secrets.yml"
    path.write_text(text)
    return path


def errors_of(tmp_path, text):
    with pytest.raises(ConfigError) as exc:
        load_secrets(write(tmp_path, text))
    return exc.value.errors


@pytest.mark.parametrize("text,expect", [
    ("users:\n  'a:b': %s\n" % GOOD_PW, "contains ':'"),
    ("users:\n  '#admin': %s\n" % GOOD_PW, "starts with '#'"),
    ("users:\n  'al ice': %s\n" % GOOD_PW, "whitespace or control"),
    ("users:\n  \"al\\tice\": %s\n" % GOOD_PW, "whitespace or control"),
    ("users:\n  no: %s\n" % GOOD_PW, "read by YAML as bool"),
    ("users:\n  0123: %s\n" % GOOD_PW, "read by YAML as int"),
    ("users:\n  alice: no\n", "read by YAML as bool"),
    ("users:\n  alice: on\n", "read by YAML as bool"),
    ("users:\n  alice: 0123\n", "read by YAML as int"),
    ("users:\n  alice: 12:30\n", "read by YAML as int"),
    ("users:\n  alice: ''\n", "is empty"),
    ("users:\n  alice: ' %s'\n" % GOOD_PW, "whitespace"),
    ("users:\n  alice: short\n", "shorter than auth_password_min_length"),
    ("keys:\n  ci: og_short\n", "too short to be secret"),
    ("keys:\n  ci: 'og %s'\n" % ("k" * 40), "characters a Bearer token cannot carry"),
    ("users:\n  a: %s\n  b: %s\n" % (GOOD_PW, GOOD_PW), "same value"),
    ("keys:\n  a: %s\n  b: %s\n" % (GOOD_KEY, GOOD_KEY), "same value"),
    ("users:\n  a: %s\n  a: %sx\n" % (GOOD_PW, GOOD_PW), "appears twice"),
    ("admins:\n  a: %s\n" % GOOD_PW, "unknown section"),
    ("users: [a, b]\n", "must map names to values"),
    ("users:\n  a: [unclosed\n", "not valid YAML"),
])
def test_bad_secrets_are_refused_without_showing_values(tmp_path, text, expect):
    errs = errors_of(tmp_path, text)
    assert any(expect in e for e in errs), errs
    joined = "\n".join(errs)
    assert GOOD_PW not in joined and GOOD_KEY not in joined and "og_short" not in joined


def test_password_with_colon_is_valid(tmp_path):
    s = load_secrets(write(tmp_path, "users:\n  alice: 'pass:word:with:colons-123'\n"))
    assert s.users["alice"].reveal() == "pass:word:with:colons-123"


def test_missing_file_names_the_variable(tmp_path):
    with pytest.raises(ConfigError) as exc:
        load_secrets(tmp_path / "nope.yml")
    assert exc.value.errors[0].startswith("OLLAMA_GATE_SECRETS:")


def test_secret_never_shows_its_value():
    s = Secret("alice", GOOD_PW)
    assert GOOD_PW not in repr(s) and GOOD_PW not in str(s) and GOOD_PW not in f"{s}" and GOOD_PW not in repr([s])
    assert s.reveal() == GOOD_PW


def test_mode_without_credentials_is_refused(tmp_path):
    secrets = load_secrets(write(tmp_path, "users:\n  alice: %s\n" % GOOD_PW))
    with pytest.raises(ConfigError) as exc:
        credentials_for(secrets, "bearer", ())
    assert exc.value.errors[0].startswith("auth_mode: 'bearer' needs at least one entry under 'keys:'")
    with pytest.raises(ConfigError) as exc:
        credentials_for(secrets, "basic", ("bob",))
    assert exc.value.errors[0].startswith("auth_credentials: 'bob' not found")
    assert list(credentials_for(secrets, "basic", ("alice",))) == ["alice"]


def test_check_hosts_reports_every_host_and_the_secrets_file_once(tmp_path):
    path = write(tmp_path, "users:\n  alice: %s\nkeys:\n  ci: %s\n" % (GOOD_PW, GOOD_KEY))
    configs = check_hosts([("a", {}), ("b", {"auth_mode": "bearer"})], tmp_path, path)
    assert list(configs["a"].credentials) == ["alice"] and list(configs["b"].credentials) == ["ci"]
    with pytest.raises(ConfigError) as exc:
        check_hosts([("a", {"proxy_port": True}), ("b", {"auth_credentials": ["bob"]})], tmp_path, path)
    errs = exc.value.errors
    assert errs[0].startswith("a: proxy_port:") and errs[1].startswith("b: auth_credentials:")


def test_min_length_setting_applies_per_host(tmp_path):
    path = write(tmp_path, "users:\n  alice: %s\n" % "Xq7-vLp2_Rk9tZw4Nc8HjB3s")  # 24 characters
    with pytest.raises(ConfigError) as exc:
        check_hosts([("a", {"auth_password_min_length": 30}), ("b", {})], tmp_path, path)
    assert exc.value.errors == ["a: auth_password_min_length: the password of 'alice' is shorter than 30"]


def test_a_missing_file_is_named_by_its_path(tmp_path, monkeypatch):
    from ollama_gate import secrets_file as sf

    monkeypatch.setenv(sf.ENV_VAR, str(tmp_path / "nope.yml"))
    with pytest.raises(ConfigError) as exc:
        load_secrets(tmp_path / "nope.yml")
    assert f"the secrets file {str(tmp_path / 'nope.yml')!r} does not exist" in exc.value.errors[0]
    monkeypatch.delenv(sf.ENV_VAR)
    monkeypatch.setattr(sf, "DEFAULT_PATH", tmp_path / "secrets.yml")
    with pytest.raises(ConfigError) as exc:
        load_secrets(tmp_path / "secrets.yml")
    assert f"the default secrets file {str(tmp_path / 'secrets.yml')!r} does not exist" in exc.value.errors[0]


def test_secrets_are_equal_by_name_and_value_only():
    a = Secret("alice", GOOD_PW)
    assert a == Secret("alice", GOOD_PW)
    assert a != Secret("alice", GOOD_PW + "x") and a != Secret("bob", GOOD_PW) and a != GOOD_PW
    assert len({a, Secret("alice", GOOD_PW), Secret("bob", GOOD_PW)}) == 2
