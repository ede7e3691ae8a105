"""The CLI's edits keep a hand-kept secrets file as written: every comment and blank line
stays where it was, next to the entries it was written for, and nothing else moves.

Each case is one edit in process, compared with the whole expected file (the installation
key the first write adds is cut off: it is random).
"""

import re

import pytest

from ollama_gate import secrets_file as sf

A, B, C = "Xq7vLp2Rk9tZw4Nc8HjB3sDf6G", "Hm4tQw9Zr2Lk7Vc5Nx8Bp3Jd6F", "Pw8sN3kT6vR1xZ4mQ7cL2bJ5hD"
KEY_LINES = re.compile(r"# Per-installation key[^\n]*\ninstallation_key: \"[0-9a-f]{64}\"\n\Z")


def edited(tmp_path, text, edit, *args):
    path = tmp_path / "secrets.yml"
    path.write_text(text)
    getattr(sf, edit)(path, *args)
    after = path.read_text()
    assert KEY_LINES.search(after), after
    return KEY_LINES.sub("", after)


def test_a_value_retired_after_a_commented_retired_section_keeps_the_comment_below_it(tmp_path):
    text = (f'users:\n  alice: "{A}"\n  bob: "{B}"\n'
            'retired:\n  old: ["og_retiredretiredretired"]\n# the end comment\n\nkeys: {}\n')
    assert edited(tmp_path, text, "remove", "alice") == (
        f'users:\n  bob: "{B}"\n'
        f'retired:\n  old: ["og_retiredretiredretired"]\n  alice: ["{A}"]\n# the end comment\n\nkeys: {{}}\n')


def test_a_retired_name_emptied_by_hand_gets_its_list_back(tmp_path):
    text = f'users:\n  alice: "{A}"\n  bob: "{B}"\nretired:\n  alice:\n'
    assert edited(tmp_path, text, "remove", "alice") == f'users:\n  bob: "{B}"\nretired:\n  alice: ["{A}"]\n'


def test_removing_the_first_entry_keeps_the_comment_of_the_next(tmp_path):
    text = f'users:\n  alice: "{A}"\n  # about bob\n  bob: "{B}"  # laptop\nkeys: {{}}\n'
    assert edited(tmp_path, text, "remove", "alice") == (
        f'users:\n  # about bob\n  bob: "{B}"  # laptop\nkeys: {{}}\nretired:\n  alice: ["{A}"]\n')


KEY = 'installation_key: "' + "ab" * 32 + '"\n'


@pytest.fixture
def fixed_values(monkeypatch):
    monkeypatch.setattr(sf, "generate", lambda section: f"Zr8-new-{section}-Lk2Vc5Nx8Bp3Jd6F")
    return {"users": "Zr8-new-users-Lk2Vc5Nx8Bp3Jd6F", "keys": "Zr8-new-keys-Lk2Vc5Nx8Bp3Jd6F"}


def run(tmp_path, text, edit, *args):
    path = tmp_path / "secrets.yml"
    path.write_text(text)
    getattr(sf, edit)(path, *args)
    return path.read_text()


@pytest.mark.parametrize("text,edit,args,after", [
    # Removing a middle entry: its end-of-line comment goes with it, the comment and blank
    # line before the next entry stay before it.
    (f'users:\n  alice: "{A}"\n  bob: "{B}"  # b\n  # about carol\n\n  carol: "{C}"\nkeys: {{}}\n' + KEY,
     "remove", ("bob",),
     f'users:\n  alice: "{A}"\n  # about carol\n\n  carol: "{C}"\nkeys: {{}}\nretired:\n  bob: ["{B}"]\n' + KEY),
    # Removing the last entry: the comment after it stays at the end of the section.
    (f'users:\n  alice: "{A}"\n  bob: "{B}"\n  carol: "{C}"\n  # after carol\nkeys: {{}}\n' + KEY,
     "remove", ("carol",),
     f'users:\n  alice: "{A}"\n  bob: "{B}"\n  # after carol\nkeys: {{}}\nretired:\n  carol: ["{C}"]\n' + KEY),
    # Adding after an entry with a comment and a blank line: both stay where they were.
    (f'users:\n  alice: "{A}"  # c\n\nkeys: {{}}\n' + KEY, "add", ("users", "bob"),
     f'users:\n  alice: "{A}"  # c\n  bob: "NEW"\n\nkeys: {{}}\n' + KEY),
    (f'users:\n  alice: "{A}"  # c\n  # before keys\nkeys: {{}}\n' + KEY, "add", ("users", "bob"),
     f'users:\n  alice: "{A}"  # c\n  bob: "NEW"\n  # before keys\nkeys: {{}}\n' + KEY),
    # A section with no entries yet (null), a section missing, before the installation key.
    ("keys:\n" + KEY, "add", ("users", "bob"), 'keys:\nusers:\n  bob: "NEW"\n' + KEY),
    ("keys:\nusers:\n" + KEY, "add", ("users", "bob"), 'keys:\nusers:\n  bob: "NEW"\n' + KEY),
    ("# the key\n" + KEY, "add", ("users", "bob"), '# the key\nusers:\n  bob: "NEW"\n' + KEY),
    (f'users:\n  alice: "{A}"\n# the key\n' + KEY, "add", ("keys", "ci"),
     f'users:\n  alice: "{A}"\nkeys:\n  ci: "NEW"\n# the key\n' + KEY),
    # Indentation as written: 4 spaces; block sequences with or without a dash offset.
    (f'users:\n    alice: "{A}"\nretired:\n    old:\n    - "x1"\n    - "x2"\n' + KEY, "add", ("users", "bob"),
     f'users:\n    alice: "{A}"\n    bob: "NEW"\nretired:\n    old:\n    - "x1"\n    - "x2"\n' + KEY),
    (f'users:\n  alice: "{A}"\nretired:\n  old:\n    - "x1"\n    - "x2"\n' + KEY, "add", ("users", "bob"),
     f'users:\n  alice: "{A}"\n  bob: "NEW"\nretired:\n  old:\n    - "x1"\n    - "x2"\n' + KEY),
    (f'users:\n  alice: "{A}"\nretired:\n  old:\n  - "x1"\n  - "x2"\n' + KEY, "add", ("users", "bob"),
     f'users:\n  alice: "{A}"\n  bob: "NEW"\nretired:\n  old:\n  - "x1"\n  - "x2"\n' + KEY),
    (f'users:   # passwords\n    alice: "{A}"\n' + KEY, "rotate", ("alice",),
     f'users:   # passwords\n    alice: "NEW"\nretired:\n    alice: ["{A}"]\n' + KEY),
    # Block-style old values get the new one in the same style.
    (f'users:\n  alice: "{A}"\nretired:\n  alice:\n    - "x1"\n' + KEY, "rotate", ("alice",),
     f'users:\n  alice: "NEW"\nretired:\n  alice:\n    - "x1"\n    - "{A}"\n' + KEY),
    # The entries' indentation is found past blank and comment lines, and past an empty section.
    (f'users:\n\n    # the team\n    alice: "{A}"\n' + KEY, "add", ("users", "bob"),
     f'users:\n\n    # the team\n    alice: "{A}"\n    bob: "NEW"\n' + KEY),
    (f'keys:\nusers:\n    alice: "{A}"\n' + KEY, "add", ("users", "bob"),
     f'keys:\nusers:\n    alice: "{A}"\n    bob: "NEW"\n' + KEY),
    # The first entry removed: the comment before the next one (which has none of its own) stays.
    (f'users:\n  alice: "{A}"\n  # about bob\n  bob: "{B}"\nkeys: {{}}\n' + KEY, "remove", ("alice",),
     f'users:\n  # about bob\n  bob: "{B}"\nkeys: {{}}\nretired:\n  alice: ["{A}"]\n' + KEY),
    # A retired value goes after the last one, before the comment lines that follow it.
    (f'users:\n  alice: "{A}"\nretired:\n  old: ["x"]  # eol\n  # more\nkeys: {{}}\n' + KEY, "remove", ("alice",),
     f'users: {{}}\nretired:\n  old: ["x"]  # eol\n  alice: ["{A}"]\n  # more\nkeys: {{}}\n' + KEY),
    # The installation key first: a new section goes before it, the end of the file stays.
    (KEY + f'users:\n  alice: "{A}"\n# the end\n', "add", ("keys", "ci"),
     'keys:\n  ci: "NEW"\n' + KEY + f'users:\n  alice: "{A}"\n# the end\n'),
])
def test_edits_keep_comments_blank_lines_and_indentation(tmp_path, fixed_values, text, edit, args, after):
    section = "keys" if args == ("keys", "ci") else "users"
    assert run(tmp_path, text, edit, *args) == after.replace("NEW", fixed_values[section])


def test_an_end_of_line_comment_on_the_last_line_stays_on_it(tmp_path, fixed_values):
    text = f'users:\n  alice: "{A}"  # no newline at the end'
    assert edited(tmp_path, text, "add", "users", "bob") == \
        f'users:\n  alice: "{A}"  # no newline at the end\n  bob: "{fixed_values["users"]}"\n'


def test_a_new_file_is_indented_by_two_spaces(tmp_path, fixed_values):
    path = tmp_path / "secrets.yml"
    sf.add(path, "users", "alice")
    sf.add(path, "keys", "ci")
    assert KEY_LINES.sub("", path.read_text()) == (
        sf._HEADER + f'users:\n  alice: "{fixed_values["users"]}"\nkeys:\n  ci: "{fixed_values["keys"]}"\n')
