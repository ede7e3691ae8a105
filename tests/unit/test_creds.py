"""Credentials for the long run: round-trip edits, expiry, revoked names, the access matrix,
weak passwords, messages, and the `ollama-gate` command (issue #10)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ollama_gate import PROJECT_DIR
from ollama_gate import secrets_file as sf
from ollama_gate.config import check_inventory
from ollama_gate.credentials import keys_content
from ollama_gate.secrets_file import UTC, ConfigError, Secret, assign, load_secrets

NOW = dt.datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
PW = {n: f"Xq7-vLp2_Rk9tZw4Nc8HjB3s-{n}" for n in ("alice", "bob", "carol")}
KEY = {n: f"og_Qm7vX2pLk9RtZ4wNc8HjB3sDf6GyA1eU5oIi0-{n}" for n in ("ci", "old", "soon")}

# Comments, blank lines, odd quoting, flow and block styles, 4-space indentation, a
# comment before `---`, and a value YAML 1.2 and 1.1 read differently (`legacy: no`).
ODD = f"""\
# secrets of the team
---
users:
    alice: "{PW['alice']}"   # alice's laptop
    'bob': '{PW['bob']}'
    legacy: no

# bearer keys
keys:            # for CI
    # for the old CI runner
    ci: {{value: "{KEY['ci']}", expires: 2027-01-31}}
    old:
        value: {KEY['old']}
        expires: 2027-01-31T12:00:00Z   # short-lived

    # the last one
    soon: {KEY['soon']}
# the end
retired:
    gone: ["og_retiredretiredretired", 'x']
"""


def lines_kept(before: str, after: str, touched: tuple[str, ...]) -> list[str]:
    """Lines of ``before`` that do not mention a touched name and are missing from ``after``."""
    after_lines = after.splitlines()
    return [line for line in before.splitlines()
            if not any(t in line for t in touched) and line not in after_lines]


def test_cli_edits_keep_every_untouched_line(tmp_path):
    path = tmp_path / "s.yml"
    path.write_text(ODD)
    sf.add(path, "users", "carol")
    sf.add(path, "keys", "new", expires=dt.date(2027, 3, 1))
    sf.rotate(path, "alice")
    sf.rotate(path, "old")
    sf.remove(path, "soon")
    after = path.read_text()
    touched = ("alice", "old", "soon", PW["alice"], KEY["old"], KEY["soon"], "gone:")
    assert lines_kept(ODD, after, touched) == []
    # Order kept: sections and untouched entries in the same sequence as written.
    order = [line.split(":")[0].strip() for line in after.splitlines() if line.strip() and ":" in line
             and not line.strip().startswith("#")]
    assert order.index("'bob'") < order.index("legacy") < order.index("carol") < order.index("keys")
    assert order.index("ci") < order.index("new") < order.index("retired")
    assert "    legacy: no\n" in after and "# the end\nretired:" in after and after.startswith("# secrets of the team\n---\n")
    data = yaml.safe_load(after)
    assert data["users"]["legacy"] is False  # untouched, still as written (PyYAML reads no as False)
    assert data["keys"]["new"]["expires"] == dt.date(2027, 3, 1)
    assert data["keys"]["old"]["expires"] == dt.datetime(2027, 1, 31, 12, tzinfo=UTC)  # expiry kept on rotate
    assert data["retired"]["alice"] == [PW["alice"]] and data["retired"]["soon"] == [KEY["soon"]]
    assert data["retired"]["gone"] == ["og_retiredretiredretired", "x"]
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_a_new_file_gets_the_header_and_quoted_values(tmp_path):
    path = tmp_path / "s.yml"
    value = sf.add(path, "users", "alice")
    text = path.read_text()
    assert text.startswith(sf._HEADER) and f'  alice: "{value}"\n' in text


def test_edits_keep_the_duplicate_and_type_checks(tmp_path):
    path = tmp_path / "s.yml"
    path.write_text(f"users:\n  a: {PW['alice']}\n  a: {PW['bob']}\n")
    with pytest.raises(ConfigError, match="appears twice"):
        sf.add(path, "users", "carol")
    path.write_text("users: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        sf.add(path, "users", "carol")
    with pytest.raises(ConfigError, match="read by YAML as another type"):
        sf.add(tmp_path / "t.yml", "users", "no")


def test_expired_entries_are_not_current_but_refused(tmp_path):
    path = tmp_path / "s.yml"
    path.write_text(f"keys:\n  ci: {{value: {KEY['ci']}, expires: 2026-11-27}}\n"
                    f"  soon: {{value: {KEY['soon']}, expires: '2026-11-27T12:05:00Z'}}\n  old: {KEY['old']}\n")
    s = load_secrets(path, now=NOW)
    assert sorted(s.keys) == ["old", "soon"] and list(s.expired["keys"]) == ["ci"]
    assert s.keys["soon"].expires == dt.datetime(2026, 11, 27, 12, 5, tzinfo=UTC)
    assert [x.name for x in s.refused()] == ["ci"]
    later = load_secrets(path, now=NOW + dt.timedelta(minutes=5))
    assert sorted(later.expired["keys"]) == ["ci", "soon"]


@pytest.mark.parametrize("entry,expect", [
    ("{value: VALUE, expires: tomorrow}", "is not a date"),
    ("{value: VALUE, expires: 5}", "must be a date"),
    ("{value: VALUE, until: 2027-01-01}", "unknown: until"),
    ("{expires: 2027-01-01}", "with 'value:'"),
])
def test_bad_expiry_entries_are_refused_without_the_value(tmp_path, entry, expect):
    path = tmp_path / "s.yml"
    path.write_text(f"keys:\n  ci: {entry.replace('VALUE', KEY['ci'])}\n")
    with pytest.raises(ConfigError) as exc:
        load_secrets(path, now=NOW)
    assert any(expect in e for e in exc.value.errors), exc.value.errors
    assert KEY["ci"] not in str(exc.value)


def test_expires_option_forms():
    assert sf.expiry_from_cli("30d", NOW) == dt.date(2026, 12, 27)
    assert sf.expiry_from_cli("2w", NOW) == dt.date(2026, 12, 11)
    assert sf.expiry_from_cli("90m", NOW) == dt.datetime(2026, 11, 27, 13, 30, tzinfo=UTC)
    assert sf.expiry_from_cli("2027-01-31", NOW) == dt.date(2027, 1, 31)
    assert sf.expiry_from_cli("2027-01-31T12:00:00Z", NOW) == dt.datetime(2027, 1, 31, 12, tzinfo=UTC)
    for bad in ("0d", "2020-01-01", "soon", "5y"):
        with pytest.raises(ConfigError):
            sf.expiry_from_cli(bad, NOW)


def test_bearer_key_file_carries_the_expiry():
    expires = dt.datetime(2027, 1, 31, tzinfo=UTC)
    text = keys_content({"ci": Secret("ci", KEY["ci"], expires), "old": Secret("old", KEY["old"])})
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    assert lines[0].endswith(f":{int(expires.timestamp())}") and lines[0].count(":") == 2
    assert lines[1].count(":") == 1
    assert KEY["ci"] not in text


@pytest.mark.parametrize("password", [
    "passwordpasswordpassword", "sunshine12345678901234", "Summer2024Summer2024!", "football1987football1987",
    "alicealicealicealice12",
])
def test_known_weak_passwords_are_refused(tmp_path, password):
    path = tmp_path / "s.yml"
    path.write_text(f"users:\n  alice: '{password}'\n")
    with pytest.raises(ConfigError) as exc:
        load_secrets(path)
    assert "known-weak pattern" in str(exc.value) and password not in str(exc.value)


@pytest.mark.parametrize("password", ["correct-horse-battery-staple-42", "kangaroo-violin-pepper-cloud"])
def test_strong_hand_typed_passwords_pass(tmp_path, password):
    path = tmp_path / "s.yml"
    path.write_text(f"users:\n  alice: '{password}'\n")
    assert load_secrets(path).users["alice"].reveal() == password


def test_generated_values_are_never_weak():
    for _ in range(20):
        assert sf.weakness(sf.generate("users"), "alice") is None
        assert sf.weakness(sf.generate("keys"), "ci") is None


def test_assign_revokes_removed_and_expired_names_and_suggests_names(tmp_path):
    path = tmp_path / "s.yml"
    path.write_text(f"users:\n  alice: {PW['alice']}\n  carol: {{value: {PW['carol']}, expires: 2026-01-01}}\n"
                    f"keys:\n  ci: {KEY['ci']}\nretired:\n  bob: [{PW['bob']}]\n")
    s = load_secrets(path, now=NOW)
    a = assign(s, "basic", ("alice", "bob", "carol"))
    assert list(a.credentials) == ["alice"] and a.revoked == ("bob", "carol")
    assert assign(s, "basic", ()).revoked == ("carol",)
    with pytest.raises(ConfigError) as exc:
        assign(s, "basic", ("alcie",))
    assert "not found under 'users:'" in str(exc.value) and "did you mean 'alice'?" in str(exc.value)
    with pytest.raises(ConfigError, match="it is under 'keys:'"):
        assign(s, "basic", ("ci",))


def test_access_matrix_and_its_warnings(tmp_path):
    path = tmp_path / "s.yml"
    path.write_text(f"users:\n  alice: {PW['alice']}\n  carol: {PW['carol']}\n"
                    f"keys:\n  ci: {{value: {KEY['ci']}, expires: 2026-12-01}}\nretired:\n  bob: [{PW['bob']}]\n")
    hosts = [("web-1", {"auth_credentials": ["alice", "bob"]}), ("web-2", {"auth_credentials": ["bob"]}),
             ("gpu-1", {"auth_mode": "bearer"})]
    checked = check_inventory(hosts, tmp_path, path, now=NOW)
    matrix = "\n".join(checked.matrix)
    assert checked.matrix[1].split() == ["credential", "in", "expires", "web-1", "web-2", "gpu-1"]
    rows = {line.split()[0]: line.split()[1:] for line in checked.matrix[2:]}
    assert rows["alice"] == ["users", "-", "yes", "-", "-"]
    assert rows["carol"] == ["users", "-", "-", "-", "-"]
    assert rows["ci"] == ["keys", "2026-12-01", "-", "-", "yes"]
    assert rows["bob"] == ["retired", "removed", "revoked", "revoked", "-"]
    warnings = "\n".join(checked.warnings)
    assert "'carol' (users:) is assigned to no host" in warnings
    assert "web-2: has no valid credential (auth_credentials lists only revoked names: bob)" in warnings
    assert "'bob' was removed (retired), but the inventory still lists it in auth_credentials of web-1, web-2" in warnings
    assert "'ci' (keys:) expires 2026-12-01 (in 3.5 days)" in warnings
    assert "'alice'" not in warnings
    assert not any(v in matrix + warnings for v in (*PW.values(), *KEY.values()))


def test_missing_default_secrets_file_points_at_the_variable(monkeypatch, tmp_path):
    monkeypatch.delenv(sf.ENV_VAR, raising=False)
    monkeypatch.setattr(sf, "DEFAULT_PATH", tmp_path / "secrets.yml")
    with pytest.raises(ConfigError) as exc:
        load_secrets(tmp_path / "secrets.yml")
    assert "OLLAMA_GATE_SECRETS is not set" in str(exc.value) and "exported in this shell" in str(exc.value)


# --- The command --------------------------------------------------------------------

def ollama_gate(*args, secrets: Path, cwd: Path) -> subprocess.CompletedProcess:
    """The installed `ollama-gate` entry point (make venv), run from another directory."""
    exe = PROJECT_DIR / ".venv" / "bin" / "ollama-gate"
    command = [str(exe)] if exe.exists() else [sys.executable, "-m", "ollama_gate"]
    env = dict(os.environ, OLLAMA_GATE_SECRETS=str(secrets))
    env.pop("PYTHONPATH", None)
    return subprocess.run([*command, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


def test_entry_point_show_and_did_you_mean_from_any_directory(tmp_path):
    secrets = tmp_path / "s.yml"
    r = ollama_gate("new-key", "ci-runner", "--expires", "30d", secrets=secrets, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    key = r.stdout.strip()
    assert key.startswith("og_") and key not in r.stderr and "expires 20" in r.stderr
    shown = ollama_gate("show", "ci-runner", secrets=secrets, cwd=tmp_path)
    assert shown.returncode == 0 and shown.stdout == key + "\n"
    assert "warning:" in shown.stderr and key not in shown.stderr and "expires" in shown.stderr
    typo = ollama_gate("show", "ci-runer", secrets=secrets, cwd=tmp_path)
    assert typo.returncode == 1 and "did you mean 'ci-runner'?" in typo.stderr and typo.stdout == ""
    assert ollama_gate("rotate", "ci-runnr", secrets=secrets, cwd=tmp_path).stderr.count("did you mean 'ci-runner'")
    assert ollama_gate("remove", "ci-runner", secrets=secrets, cwd=tmp_path).returncode == 0
    gone = ollama_gate("show", "ci-runner", secrets=secrets, cwd=tmp_path)
    assert gone.returncode == 1 and "was removed" in gone.stderr and key not in gone.stderr + gone.stdout


def test_check_prints_matrix_warnings_and_takes_data(tmp_path):
    secrets = tmp_path / "s.yml"
    secrets.write_text(f"users:\n  alice: {PW['alice']}\n  carol: {PW['carol']}\nretired:\n  bob: [{PW['bob']}]\n")
    inv = tmp_path / "inv.py"
    inv.write_text("hosts = [('h1', {'auth_credentials': ['alice']}), ('h2', {'auth_credentials': ['bob']})]\n")
    r = ollama_gate("check", str(inv), secrets=secrets, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "h2: ok (basic, 0 credential(s): none; revoked: bob)" in r.stdout
    assert "access: credential names x hosts" in r.stdout
    assert "warning: 'carol' (users:) is assigned to no host" in r.stderr
    assert "warning: h2: has no valid credential" in r.stderr
    # --data as pyinfra reads it: a JSON list, for every host.
    d = ollama_gate("check", str(inv), "--data", 'auth_credentials=["alice","carol"]', secrets=secrets, cwd=tmp_path)
    assert d.returncode == 0, d.stderr
    assert "h2: ok (basic, 2 credential(s): alice, carol)" in d.stdout and "assigned to no host" not in d.stderr
    bad = ollama_gate("check", str(inv), "--data", "proxy_port=0", secrets=secrets, cwd=tmp_path)
    assert bad.returncode == 1 and "h1: proxy_port:" in bad.stderr
    assert not any(v in r.stdout + r.stderr + d.stdout + d.stderr for v in PW.values())


def test_a_new_section_goes_before_the_installation_key_and_its_comment(tmp_path):
    path = tmp_path / "s.yml"
    path.write_text(f"users:\n  alice: \"{PW['alice']}\"\n")
    assert sf.ensure_installation_key(path)
    before = path.read_text()
    sf.add(path, "keys", "ci")
    sf.remove(path, "alice")
    lines = path.read_text().splitlines()
    assert [line.split(":")[0] for line in lines if line and not line.startswith((" ", "#"))] == \
        ["users", "keys", "retired", "installation_key"]
    assert lines[-2].startswith("# Per-installation key") and lines[-1] == before.splitlines()[-1]
