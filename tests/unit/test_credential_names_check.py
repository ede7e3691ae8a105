"""The check of the names in a host's credential file against the wanted ones, in full.

A credential file that still holds a removed name (or lacks a new one, or carries another
expiry) is a host that accepts the wrong clients: the verification must fail it.
"""

import datetime as dt

import pytest

from ollama_gate import auth
from ollama_gate import checks as v
from ollama_gate.secrets_file import Secret

PATH = "/opt/ollama-gate/auth/keys.sha256"
RERUN = "the credential file differs from the inventory and secrets file: rerun the deploy"


def check(wanted, live):
    return v.judge_names("gpu-1", PATH, wanted, live)


def test_the_same_names_and_expiries_pass():
    wanted = {"ci": None, "laptop": 1767225600}
    assert check(wanted, dict(wanted)) == v.Check(
        "gpu-1", "credential-file-names", "(all)", "READ", PATH, "ci, laptop (expires 1767225600)",
        "ci, laptop (expires 1767225600)", True, "")


@pytest.mark.parametrize("live,shown", [
    ({"ci": None, "laptop": 1767225600, "old": None}, "ci, laptop (expires 1767225600), old"),  # a removed name left
    ({"ci": None}, "ci"),                                                                      # a new name missing
    ({"ci": None, "laptop": None}, "ci, laptop"),                                              # expiry lost
    ({"ci": None, "laptop": 1767225601}, "ci, laptop (expires 1767225601)"),                   # another expiry
    ({}, "no names"),
    (None, "no credential file"),
])
def test_any_difference_fails_and_shows_both_sides(live, shown):
    wanted = {"laptop": 1767225600, "ci": None}
    assert check(wanted, live) == v.Check(
        "gpu-1", "credential-file-names", "(all)", "READ", PATH, "ci, laptop (expires 1767225600)", shown, False,
        RERUN)


def test_no_names_wanted_and_none_there_passes():
    assert check({}, {}).ok and check({}, {}).expected == "no names"
    assert not check({}, None).ok


def test_report_entry_holds_names_only():
    assert v.credentials_entry({"laptop": 1767225600, "ci": None}, {"old": None, "ci": None}, ["zed", "bob"]) == {
        "wanted": ["ci", "laptop"], "live": ["ci", "old"], "revoked": ["bob", "zed"], "expires": {"laptop": 1767225600}}
    assert v.credentials_entry({}, None, [])["live"] is None
    assert v.credentials_entry({}, {}, [])["live"] == []


def test_what_each_mode_writes_besides_hashes():
    expires = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    creds = {"ci": Secret("ci", "og_" + "Qm7vX2pLk9RtZ4wNc8HjB3sDf6GyA1eU5oIi0", expires),
             "laptop": Secret("laptop", "og_Zt5rW8nM2xC4vB7kL9pQ3sD6fG1hJ0aE2yU4i")}
    assert auth.mode("bearer").file_entries(creds) == {"ci": 1767225600, "laptop": None}
    # Basic's file has no expiry (nginx's auth_basic cannot enforce one).
    assert auth.mode("basic").file_entries(creds) == {"ci": None, "laptop": None}
