"""Secrets file values: padding refused at either end, broken YAML reported by line only.

The values here are random-looking (a strength check must not be what refuses them), and
each broken file carries a real secret on its broken line, so a message quoting that line
would fail the test.
"""

import pytest

from ollama_gate.secrets_file import ConfigError, load_secrets

PASSWORD = "Xq7vLp2Rk9tZw4Nc8HjB3sDf6G"
OTHER = "Hm4tQw9Zr2Lk7Vc5Nx8Bp3Jd6F"
KEY = "og_Qm7vX2pLk9RtZ4wNc8HjB3sDf6GyA1eU5oIi0"


def load_errors(tmp_path, text):
    path = tmp_path / "secrets.yml"
    path.write_text(text)
    with pytest.raises(ConfigError) as exc:
        load_secrets(path)
    return exc.value.errors


@pytest.mark.parametrize("section,value", [
    ("users", PASSWORD + " "),
    ("users", PASSWORD + "\t"),
    ("users", " " + PASSWORD),
    ("users", PASSWORD + "\n"),
    ("keys", KEY + " "),
    ("keys", " " + KEY),
])
def test_whitespace_at_either_end_is_refused(tmp_path, section, value):
    # Double-quoted so YAML keeps the padding exactly.
    escaped = value.replace("\t", "\\t").replace("\n", "\\n")
    errs = load_errors(tmp_path, f'{section}:\n  alice: "{escaped}"\n')
    assert len(errs) == 1 and "whitespace" in errs[0] and "'alice'" in errs[0], errs
    assert value.strip() not in "\n".join(errs)


# (broken file, the lines the error may name: where the broken line is, or where YAML
# noticed, past the end of an unclosed construct); the secret sits on the broken line.
BROKEN = [
    (f'users:\n  alice: "{PASSWORD}\n', (2, 3)),       # unclosed quote
    (f"users:\n  alice: {PASSWORD}: x\n", (2,)),       # a second ':' in a plain value
    (f"users:\n  alice: [{PASSWORD}\n", (2, 3)),       # unclosed flow sequence
    (f"users:\n\talice: {PASSWORD}\n", (2,)),          # tab indentation
    (f"users:\n  alice: '{PASSWORD}'x\n", (2,)),       # text after a closing quote
    (f"users:\n  alice: *{PASSWORD}\n", (2,)),         # an alias YAML cannot resolve
    (f"users:\n  alice: !{PASSWORD} x\n", (2,)),       # an unknown tag
    (f"keys:\n  ci: {KEY}\n  ci2: {{{KEY}\n", (3, 4)),  # unclosed flow mapping
]


@pytest.mark.parametrize("text,lines", BROKEN, ids=[f"case{i}" for i in range(len(BROKEN))])
def test_broken_yaml_names_the_line_and_never_quotes_it(tmp_path, text, lines):
    errs = load_errors(tmp_path, text)
    joined = "\n".join(errs)
    assert PASSWORD not in joined and KEY not in joined, joined
    # Not even a fragment long enough to help a guess.
    assert PASSWORD[:8] not in joined and KEY[3:11] not in joined, joined
    assert any(f"line {n}" in joined for n in lines), joined
