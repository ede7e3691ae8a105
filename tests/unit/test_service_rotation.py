"""A rotated gateway credential: the backend's file keeps the previous value until the gateway
switched (pure: the wanted file, the host's line digests and the earlier values in)."""

from __future__ import annotations

import datetime as dt

import pytest

from ollama_gate import auth
from ollama_gate.credentials import entry_lines, keys_content, line_digest, with_previous
from ollama_gate.secrets_file import Secret

SERVICE = "ollama-gate-gateway"
OLD = "og_" + "o" * 43
NEW = "og_" + "n" * 43
OLDER = "og_" + "e" * 43
CI = Secret("ci", "og_" + "c" * 43)


def keys(**values):
    return keys_content({n.replace("_", "-"): Secret(n.replace("_", "-"), v) for n, v in values.items()})


def digests(text):
    return {name: line_digest(line) for name, line in entry_lines(text).items()}


def candidates(*values):
    return [keys_content({SERVICE: Secret(SERVICE, v)}) for v in values]


BEARER_PREVIOUS = auth.mode("bearer").previous_name(SERVICE)


def test_a_rotated_value_on_the_host_is_kept_under_the_previous_name_beside_the_new_one():
    wanted = keys(ollama_gate_gateway=NEW)
    host = digests(keys(ollama_gate_gateway=OLD))
    text = with_previous(wanted, SERVICE, BEARER_PREVIOUS, host, candidates(OLDER, OLD))
    assert text is not None and text.startswith(wanted)
    previous = entry_lines(text)[f"{SERVICE}.previous"]
    assert previous == f"{SERVICE}.previous:{entry_lines(keys(ollama_gate_gateway=OLD))[SERVICE].split(':', 1)[1]}"
    assert OLD not in text and NEW not in text  # digests only


def test_nothing_is_kept_when_the_host_has_the_wanted_value_or_no_service_line_or_an_unknown_one():
    wanted = keys(ollama_gate_gateway=NEW)
    assert with_previous(wanted, SERVICE, BEARER_PREVIOUS, digests(wanted), candidates(OLD)) is None
    assert with_previous(wanted, SERVICE, BEARER_PREVIOUS, {}, candidates(OLD)) is None  # first deploy
    assert with_previous(wanted, SERVICE, BEARER_PREVIOUS, digests(keys(ollama_gate_gateway=OLDER)),
                         candidates(OLD)) is None  # not a value the secrets file knows: not kept


def test_a_killed_run_left_the_previous_line_it_is_kept_again_then_the_rerun_is_unchanged():
    wanted = keys(ollama_gate_gateway=NEW)
    left = with_previous(wanted, SERVICE, BEARER_PREVIOUS, digests(keys(ollama_gate_gateway=OLD)), candidates(OLD))
    assert with_previous(wanted, SERVICE, BEARER_PREVIOUS, digests(left), candidates(OLD)) == left


def test_other_credentials_are_written_as_wanted_and_a_rotated_back_value_is_not_doubled():
    wanted = keys_content({"ci": CI, SERVICE: Secret(SERVICE, NEW)})
    text = with_previous(wanted, SERVICE, BEARER_PREVIOUS,
                         digests(keys_content({"ci": CI, SERVICE: Secret(SERVICE, OLD)})), candidates(OLD))
    assert set(entry_lines(text)) == {"ci", SERVICE, f"{SERVICE}.previous"}
    # Rotated back: the value the host has and the wanted one are the same digest.
    assert with_previous(keys(ollama_gate_gateway=OLD), SERVICE, BEARER_PREVIOUS,
                         digests(keys(ollama_gate_gateway=OLD)), candidates(OLD)) is None


def test_an_expiring_service_key_is_recognised_with_its_expiry():
    until = dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)
    old = Secret(SERVICE, OLD, until)
    host = digests(keys_content({SERVICE: old}))
    text = with_previous(keys(ollama_gate_gateway=NEW), SERVICE, BEARER_PREVIOUS, host,
                         [keys_content({SERVICE: old})])
    assert entry_lines(text)[f"{SERVICE}.previous"].endswith(f":{int(until.timestamp())}")


@pytest.mark.parametrize("mode", sorted(auth.MODES))
def test_each_mode_says_whether_it_can_hold_two_values(mode):
    m = auth.mode(mode)
    name = m.previous_name(SERVICE)
    # bearer: the Lua check finds a key by its digest alone; basic: nginx checks only the
    # first line of a user name, so a second value for it would never be looked at.
    assert name == {"bearer": f"{SERVICE}.previous", "basic": None}[mode]
    if name is None:
        assert with_previous("x", SERVICE, name, {SERVICE: "d"}, ["y"]) is None
