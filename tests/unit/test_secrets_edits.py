"""new-user/new-key/rotate/remove in process: what the CLI does to the secrets file.

(tests/unit/test_cli.py runs the same through `python -m ollama_gate`; in a child process
the mutation run cannot see which functions a test calls, so these say it here too.)
"""

import stat

import pytest

from ollama_gate import secrets_file as sf
from ollama_gate.secrets_file import ConfigError, load_secrets


@pytest.fixture
def path(tmp_path):
    return tmp_path / "dir" / "secrets.yml"


def values(path):
    s = load_secrets(path)
    return ({n: x.reveal() for n, x in s.users.items()}, {n: x.reveal() for n, x in s.keys.items()},
            {n: [x.reveal() for x in v] for n, v in s.retired.items()})


def test_add_creates_the_file_owner_only_and_returns_the_value(path):
    password = sf.add(path, "users", "alice")
    key = sf.add(path, "keys", "ci")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert values(path) == ({"alice": password}, {"ci": key}, {})
    assert len(password) >= 32 and key.startswith("og_") and len(key) >= 46
    assert password != sf.add(path, "users", "bob")
    assert not [p for p in path.parent.iterdir() if p.name != "secrets.yml"]  # no temporary file left


@pytest.mark.parametrize("section", ["users", "keys"])
def test_a_name_is_unique_across_sections(path, section):
    sf.add(path, "users", "alice")
    before = path.read_bytes()
    with pytest.raises(ConfigError) as exc:
        sf.add(path, section, "alice")
    assert "'alice' already exists under 'users:'" in exc.value.errors[0]
    assert path.read_bytes() == before


@pytest.mark.parametrize("name", ["a:b", "#x", "al ice", ""])
def test_add_refuses_bad_names_before_writing(path, name):
    with pytest.raises(ConfigError):
        sf.add(path, "users", name)
    assert not path.exists()


def test_rotate_retires_the_old_value_and_keeps_the_last_three(path):
    first = sf.add(path, "keys", "ci")
    other = sf.add(path, "users", "alice")
    olds = [first]
    for _ in range(4):
        section, new = sf.rotate(path, "ci")
        assert section == "keys" and new not in olds
        olds.append(new)
    users, keys, retired = values(path)
    assert users == {"alice": other}
    assert keys == {"ci": olds[-1]}
    assert retired == {"ci": olds[-4:-1]}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_remove_retires_the_value(path):
    password = sf.add(path, "users", "alice")
    key = sf.add(path, "keys", "ci")
    assert sf.remove(path, "alice") == "users"
    assert values(path) == ({}, {"ci": key}, {"alice": [password]})
    assert sf.remove(path, "ci") == "keys"
    assert values(path)[2] == {"alice": [password], "ci": [key]}


@pytest.mark.parametrize("edit", [lambda p: sf.rotate(p, "bob"), lambda p: sf.remove(p, "bob")])
def test_unknown_names_are_refused_without_writing(path, edit):
    sf.add(path, "users", "alice")
    before = path.read_bytes()
    with pytest.raises(ConfigError) as exc:
        edit(path)
    assert "'bob'" in exc.value.errors[0]
    assert path.read_bytes() == before


def test_show_gives_the_current_value_and_refuses_removed_or_unknown_names(path):
    password = sf.add(path, "users", "alice")
    key = sf.add(path, "keys", "ci")
    section, secret, expired = sf.show(path, "alice")
    assert (section, secret.name, secret.reveal(), expired) == ("users", "alice", password, False)
    section, secret, expired = sf.show(path, "ci")
    assert (section, secret.reveal(), expired) == ("keys", key, False)
    sf.remove(path, "alice")
    with pytest.raises(ConfigError) as exc:
        sf.show(path, "alice")
    assert exc.value.errors == ["'alice' was removed: only its old values are kept, under 'retired:'"]
    with pytest.raises(ConfigError) as exc:
        sf.show(path, "cj")
    assert exc.value.errors[0].startswith(f"no credential named 'cj' in {str(path)!r}")


def test_rotating_a_removed_name_says_it_was_removed(path):
    sf.add(path, "users", "alice")
    sf.remove(path, "alice")
    with pytest.raises(ConfigError) as exc:
        sf.rotate(path, "alice")
    assert exc.value.errors == [f"'alice' was removed (only its old values are under 'retired:' in {str(path)!r})"]
    with pytest.raises(ConfigError) as exc:
        sf.rotate(path, "alicf")
    assert exc.value.errors[0].startswith(f"no credential named 'alicf' in {str(path)!r}")


def test_rotate_keeps_replaces_or_drops_the_expiry(path):
    import datetime as dt

    import yaml

    def entry(name):
        return yaml.safe_load(path.read_text())["keys"][name]

    sf.add(path, "keys", "ci", expires=dt.date(2027, 3, 1))
    sf.add(path, "keys", "plain")
    _, kept = sf.rotate(path, "ci")                                   # kept
    assert entry("ci") == {"value": kept, "expires": dt.date(2027, 3, 1)}
    _, moved = sf.rotate(path, "ci", expires=dt.date(2027, 6, 1))     # replaced
    assert entry("ci") == {"value": moved, "expires": dt.date(2027, 6, 1)}
    _, plain = sf.rotate(path, "ci", expires=None)                    # dropped
    assert entry("ci") == plain
    _, given = sf.rotate(path, "plain", expires=dt.date(2027, 2, 1))  # a plain entry gets one
    assert entry("plain") == {"value": given, "expires": dt.date(2027, 2, 1)}
    _, still = sf.rotate(path, "ci", expires=None)                    # a plain entry stays plain
    assert entry("ci") == still
    assert values(path)[2]["ci"] == [kept, moved, plain]  # the last three old values


def test_removing_entries_keeps_the_comments_around_them(path):
    path.parent.mkdir(parents=True)
    path.write_text("users:\n"
                    "  # first user\n"
                    "  alice: \"Xq7vLp2Rk9tZw4Nc8HjB3sDf6G\"  # alice's laptop\n"
                    "  # second user\n"
                    "  bob: \"Hm4tQw9Zr2Lk7Vc5Nx8Bp3Jd6F\"\n"
                    "  # third user\n"
                    "  carol: \"Pw8sN3kT6vR1xZ4mQ7cL2bJ5hD\"\n"
                    "# after the users\n"
                    "keys: {}\n")
    sf.remove(path, "bob")
    text = path.read_text()
    assert "bob:" not in text.split("retired:")[0]
    for line in ("  # first user\n", "# alice's laptop", "  # third user\n", "# after the users\n"):
        assert line in text, text
    sf.remove(path, "alice")
    text = path.read_text()
    assert "alice:" not in text.split("retired:")[0]
    assert "  # third user\n" in text and "# after the users\n" in text
    assert text.index("carol:") < text.index("# after the users") < text.index("keys:")
    assert list(load_secrets(path).users) == ["carol"]


@pytest.mark.parametrize("text", ["users:\n  alice: \"Xq7vLp2Rk9tZw4Nc8HjB3sDf6G\"\n",
                                  "users:\n  alice: \"Xq7vLp2Rk9tZw4Nc8HjB3sDf6G\"  # no newline at the end"])
def test_installation_key_is_appended_once_leaving_the_rest_byte_for_byte(path, text):
    import re

    path.parent.mkdir(parents=True)
    path.write_text(text)
    assert sf.ensure_installation_key(path) is True
    after = path.read_text()
    # The file as it was, a line break if its last line had none, then the two lines.
    assert re.fullmatch(re.escape(text.rstrip("\n") + "\n") + r"# Per-installation key of the \.htpasswd salts "
                        r"\(made by ollama-gate; keep it with the secrets\)\.\n"
                        rf'{sf.INSTALLATION_KEY}: "[0-9a-f]{{64}}"\n', after), after
    assert sf.ensure_installation_key(path) is False and path.read_text() == after
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_installation_key_differs_per_file_and_is_never_added_to_a_non_mapping(tmp_path):
    a, b = tmp_path / "a.yml", tmp_path / "b.yml"
    for p in (a, b):
        p.write_text("users: {}\n")
        sf.ensure_installation_key(p)
    assert a.read_text() != b.read_text()
    c = tmp_path / "c.yml"
    c.write_text("- a list\n")
    assert sf.ensure_installation_key(c) is False and c.read_text() == "- a list\n"


def test_show_gives_an_expired_credential_and_says_it_expired(path):
    import datetime as dt

    path.parent.mkdir(parents=True)
    key = "og_Qm7vX2pLk9RtZ4wNc8HjB3sDf6GyA1eU5oIi0"
    # A 16-character random password: under the default minimum, but a host may allow it.
    path.write_text(f"users:\n  alice: \"Hq4-Zt8_Lm2vRx7c\"\n"
                    f"keys:\n  old: {{value: \"{key}\", expires: 2020-01-01}}\n")
    section, secret, expired = sf.show(path, "old")
    assert (section, secret.name, secret.reveal(), expired) == ("keys", "old", key, True)
    assert secret.expires == dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)
    section, secret, expired = sf.show(path, "alice")
    assert (section, secret.reveal(), expired) == ("users", "Hq4-Zt8_Lm2vRx7c", False)


def test_unknown_names_get_the_closest_known_name_of_any_kind(path):
    sf.add(path, "users", "alice")
    sf.add(path, "keys", "deploy-bot")
    sf.add(path, "users", "gone")
    sf.remove(path, "gone")
    for typo, meant in (("alicf", "alice"), ("deploy-bat", "deploy-bot"), ("gome", "gone")):
        with pytest.raises(ConfigError) as exc:
            sf.show(path, typo)
        assert exc.value.errors == [f"no credential named {typo!r} in {str(path)!r} (did you mean {meant!r}?)"]
        with pytest.raises(ConfigError) as exc:
            sf.rotate(path, typo)
        assert exc.value.errors == [f"no credential named {typo!r} in {str(path)!r} (did you mean {meant!r}?)"]
    with pytest.raises(ConfigError) as exc:
        sf.remove(path, "zzz")
    assert exc.value.errors == [f"no credential named 'zzz' in {str(path)!r}"]


def test_an_empty_file_gets_the_installation_key_as_its_first_line(path):
    path.parent.mkdir(parents=True)
    path.write_text("")
    assert sf.ensure_installation_key(path) is True
    assert path.read_text().startswith("# Per-installation key")


def test_installation_key_on_a_broken_file_names_the_line_never_quotes_it(path):
    secret = "Xq7vLp2Rk9tZw4Nc8HjB3sDf6G"
    path.parent.mkdir(parents=True)
    path.write_text(f'users:\n  alice: "{secret}\n  bob: x\n')
    before = path.read_bytes()
    with pytest.raises(ConfigError) as exc:
        sf.ensure_installation_key(path)
    assert exc.value.errors == [f"OLLAMA_GATE_SECRETS: {str(path)!r} is not valid YAML at line 4"]
    assert path.read_bytes() == before


def test_installation_key_is_not_appended_after_a_document_end(path):
    # After "..." an appended line would start a second YAML document.
    path.parent.mkdir(parents=True)
    path.write_text('users: {alice: "Xq7vLp2Rk9tZw4Nc8HjB3sDf6G"}\n...\n')
    before = path.read_bytes()
    with pytest.raises(ConfigError) as exc:
        sf.ensure_installation_key(path)
    assert exc.value.errors == [
        f"OLLAMA_GATE_SECRETS: could not add installation_key to {str(path)!r} without changing it; add a "
        "line 'installation_key: \"<64 hex digits>\"' yourself (python3 -c 'import secrets; "
        "print(secrets.token_hex(32))')"]
    assert path.read_bytes() == before


def test_a_new_file_may_be_several_directories_deep(tmp_path):
    path = tmp_path / "a" / "b" / "secrets.yml"
    value = sf.add(path, "users", "alice")
    assert values(path)[0] == {"alice": value}


def test_the_file_is_replaced_from_beside_it_whatever_tmpdir_says(path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(path.parent / "no-such-dir"))
    value = sf.add(path, "users", "alice")
    assert values(path)[0] == {"alice": value}


def test_the_file_is_written_as_utf8_under_any_locale(path):
    import locale

    path.parent.mkdir(parents=True)
    path.write_text("# Zoë's keys\nusers:\n  alice: \"Xq7vLp2Rk9tZw4Nc8HjB3sDf6G\"  # Café\n", encoding="utf-8")
    old = locale.setlocale(locale.LC_CTYPE)
    locale.setlocale(locale.LC_CTYPE, "C")  # an ASCII locale
    try:
        sf.add(path, "keys", "ci")
    finally:
        locale.setlocale(locale.LC_CTYPE, old)
    text = path.read_bytes().decode("utf-8")
    assert text.startswith("# Zoë's keys\n") and "# Café\n" in text


def test_a_failed_write_leaves_the_file_and_no_copy_of_the_secrets(path, monkeypatch):
    sf.add(path, "users", "alice")
    before = path.read_bytes()

    def full_disk(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(sf.os, "replace", full_disk)
    with pytest.raises(OSError, match="No space left"):
        sf.add(path, "users", "bob")
    assert path.read_bytes() == before
    assert [p.name for p in path.parent.iterdir()] == ["secrets.yml"]


@pytest.mark.parametrize("name", ["[x", "*x", "&x", "!x", "{x", "|x", ">x", "%x", "@x", "`x"])
def test_names_yaml_would_not_read_as_a_plain_name_are_refused(path, name):
    with pytest.raises(ConfigError) as exc:
        sf.add(path, "users", name)
    assert exc.value.errors == [f"the name {name!r} would be read by YAML as another type; choose another name"]
    assert not path.exists()


def test_an_edit_through_a_yaml_alias_is_refused_leaving_the_file(path):
    # keys: is an alias of users:, so adding to one would add to both.
    path.parent.mkdir(parents=True)
    path.write_text('users: &u\n  alice: "Xq7vLp2Rk9tZw4Nc8HjB3sDf6G"\nkeys: *u\n')
    before = path.read_bytes()
    with pytest.raises(ConfigError) as exc:
        sf.add(path, "users", "bob")
    assert exc.value.errors == [f"OLLAMA_GATE_SECRETS: the edit of {str(path)!r} could not keep the file as "
                                "written; the file is unchanged (edit it by hand)"]
    assert path.read_bytes() == before


def test_a_file_the_editor_cannot_read_is_named_and_left(path):
    # PyYAML applies the %TAG directive; the editor reads the body after it without it.
    path.parent.mkdir(parents=True)
    path.write_text("%TAG !y! tag:yaml.org,2002:\n---\nusers:\n  alice: !y!str Xq7vLp2Rk9tZw4Nc8HjB3sDf6G\n")
    before = path.read_bytes()
    assert list(load_secrets(path).users) == ["alice"]
    with pytest.raises(ConfigError) as exc:
        sf.add(path, "users", "bob")
    assert exc.value.errors == [f"OLLAMA_GATE_SECRETS: {str(path)!r} could not be read for editing; "
                                "the file is unchanged"]
    assert path.read_bytes() == before


@pytest.mark.parametrize("text,error", [
    ("- a list\n", "{path!r} must be a mapping with 'users:' and/or 'keys:'"),
    ("users:\n  a: [x\n", "{path!r} is not valid YAML at line 3"),
])
def test_edits_of_a_file_that_is_no_secrets_mapping_name_the_file(path, text, error):
    path.parent.mkdir(parents=True)
    path.write_text(text)
    for edit in (lambda: sf.add(path, "users", "bob"), lambda: sf.rotate(path, "a"), lambda: sf.remove(path, "a")):
        with pytest.raises(ConfigError) as exc:
            edit()
        assert exc.value.errors == ["OLLAMA_GATE_SECRETS: " + error.format(path=str(path))]
    assert path.read_text() == text


def test_assign_names_the_secrets_file_in_its_errors(tmp_path):
    path = tmp_path / "s.yml"
    path.write_text('users:\n  alice: "Xq7vLp2Rk9tZw4Nc8HjB3sDf6G"\n')
    secrets = load_secrets(path)
    with pytest.raises(ConfigError) as exc:
        sf.assign(secrets, "bearer", ())
    assert exc.value.errors == [f"auth_mode: 'bearer' needs at least one entry under 'keys:' in {str(path)!r}"]
    with pytest.raises(ConfigError) as exc:
        sf.assign(secrets, "basic", ("alicia",))
    assert exc.value.errors == [f"auth_credentials: 'alicia' not found under 'users:' in {str(path)!r} "
                                "(did you mean 'alice'?)"]
