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
