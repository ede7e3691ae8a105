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
    text = with_previous(wanted, BEARER_PREVIOUS, host, candidates(OLDER, OLD))
    assert text is not None and text.startswith(wanted)
    previous = entry_lines(text)[f"{SERVICE}.previous"]
    assert previous == f"{SERVICE}.previous:{entry_lines(keys(ollama_gate_gateway=OLD))[SERVICE].split(':', 1)[1]}"
    assert OLD not in text and NEW not in text  # digests only


def test_nothing_is_kept_when_the_host_has_the_wanted_value_or_no_service_line_or_an_unknown_one():
    wanted = keys(ollama_gate_gateway=NEW)
    assert with_previous(wanted, BEARER_PREVIOUS, digests(wanted), candidates(OLD)) is None
    assert with_previous(wanted, BEARER_PREVIOUS, {}, candidates(OLD)) is None  # first deploy
    assert with_previous(wanted, BEARER_PREVIOUS, digests(keys(ollama_gate_gateway=OLDER)),
                         candidates(OLD)) is None  # not a value the secrets file knows: not kept


def test_a_killed_run_left_the_previous_line_it_is_kept_again_then_the_rerun_is_unchanged():
    wanted = keys(ollama_gate_gateway=NEW)
    left = with_previous(wanted, BEARER_PREVIOUS, digests(keys(ollama_gate_gateway=OLD)), candidates(OLD))
    assert with_previous(wanted, BEARER_PREVIOUS, digests(left), candidates(OLD)) == left


def test_other_credentials_are_written_as_wanted_and_a_rotated_back_value_is_not_doubled():
    wanted = keys_content({"ci": CI, SERVICE: Secret(SERVICE, NEW)})
    text = with_previous(wanted, BEARER_PREVIOUS,
                         digests(keys_content({"ci": CI, SERVICE: Secret(SERVICE, OLD)})), candidates(OLD))
    assert set(entry_lines(text)) == {"ci", SERVICE, f"{SERVICE}.previous"}
    # Rotated back: the value the host has and the wanted one are the same digest.
    assert with_previous(keys(ollama_gate_gateway=OLD), BEARER_PREVIOUS,
                         digests(keys(ollama_gate_gateway=OLD)), candidates(OLD)) is None


def test_an_expiring_service_key_is_recognised_with_its_expiry():
    until = dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)
    old = Secret(SERVICE, OLD, until)
    host = digests(keys_content({SERVICE: old}))
    text = with_previous(keys(ollama_gate_gateway=NEW), BEARER_PREVIOUS, host,
                         [keys_content({SERVICE: old})])
    assert entry_lines(text)[f"{SERVICE}.previous"].endswith(f":{int(until.timestamp())}")


@pytest.mark.parametrize("mode", sorted(auth.MODES))
def test_each_value_of_a_service_credential_can_stand_beside_another(mode):
    m = auth.mode(mode)
    key = b"k" * 32
    old_name, new_name = m.service_name(SERVICE, OLD, key), m.service_name(SERVICE, NEW, key)
    if mode == "bearer":
        # The Lua check finds a key by its digest alone: both values under one name, the
        # previous one on a line of another name.
        assert old_name == new_name == SERVICE and m.previous_name(SERVICE) == f"{SERVICE}.previous"
    else:
        # nginx checks only the first line of a user name: each value has a name of its own,
        # the same on every render, told apart only with the installation key.
        assert m.previous_name(SERVICE) is None
        assert old_name != new_name and old_name.startswith(f"{SERVICE}.") and len(old_name) == len(SERVICE) + 9
        assert m.service_name(SERVICE, OLD, key) == old_name != m.service_name(SERVICE, OLD, b"j" * 32)
        assert OLD not in old_name


BASIC_KEY = b"s" * 32


def basic_file(**values):
    from ollama_gate.credentials import htpasswd_content
    basic = auth.mode("basic")
    users = {}
    for label, value in values.items():
        name = SERVICE if label == "plain" else basic.service_name(SERVICE, value, BASIC_KEY)
        users[name] = Secret(name, value)
    return htpasswd_content(users, "ssha", BASIC_KEY)


def basic_candidates(current, *retired):
    from types import SimpleNamespace

    from ollama_gate.credentials import service_candidates
    basic = auth.mode("basic")
    wire = basic.service_name(SERVICE, current, BASIC_KEY)
    return service_candidates(basic, SERVICE, [Secret(SERVICE, v) for v in retired], {wire: Secret(wire, current)},
                              SimpleNamespace(auth_htpasswd_scheme="ssha"), BASIC_KEY)


def test_basic_keeps_the_previous_values_own_user_line_beside_the_new_one():
    wanted = basic_file(new=NEW)
    text = with_previous(wanted, None, digests(basic_file(old=OLD)), basic_candidates(NEW, OLDER, OLD))
    assert text is not None and text.startswith(wanted)
    assert entry_lines(text) == {**entry_lines(wanted), **entry_lines(basic_file(old=OLD))}
    # Rerun after a killed run (both lines on the host): the same file again.
    assert with_previous(wanted, None, digests(text), basic_candidates(NEW, OLD)) == text
    # Done: the host holds the wanted file, nothing kept.
    assert with_previous(wanted, None, digests(wanted), basic_candidates(NEW, OLD)) is None


def test_basic_hosts_of_an_older_version_keep_the_plain_user_name_while_the_gateway_switches():
    wanted = basic_file(new=NEW)
    plain = basic_file(plain=NEW)  # the same value, under the name every value had before
    text = with_previous(wanted, None, digests(plain), basic_candidates(NEW))
    assert set(entry_lines(text)) == {auth.mode("basic").service_name(SERVICE, NEW, BASIC_KEY), SERVICE}


def test_an_expiring_service_key_keeps_digest_and_expiry_and_is_not_doubled_when_rotated_back():
    until = dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)
    old = Secret(SERVICE, OLD, until)
    old_line = entry_lines(keys_content({SERVICE: old}))[SERVICE]
    text = with_previous(keys(ollama_gate_gateway=NEW), BEARER_PREVIOUS, digests(keys_content({SERVICE: old})),
                         [keys_content({SERVICE: old})])
    assert entry_lines(text)[f"{SERVICE}.previous"] == f"{SERVICE}.previous:{old_line.split(':', 1)[1]}"
    # Rotated back to that value while the host still keeps it under the previous name.
    host = digests(keys_content({SERVICE: Secret(SERVICE, NEW)}) + entry_lines(text)[f"{SERVICE}.previous"] + "\n")
    assert with_previous(keys_content({SERVICE: old}), BEARER_PREVIOUS, host, [keys_content({SERVICE: old})]) is None


def test_basic_service_user_names_are_the_same_in_every_version():
    # A changed derivation would rename the gateway's user on every backend after an
    # upgrade, and the value the backends hold now would no longer be recognised.
    basic = auth.mode("basic")
    assert basic.service_name(SERVICE, OLD, bytes(range(32))) == f"{SERVICE}.1853c98c"
    assert basic.service_name(SERVICE, NEW, bytes(range(32))) == f"{SERVICE}.9505f9ec"


def test_bearer_candidates_are_each_value_of_the_service_credential_alone_with_its_expiry():
    from types import SimpleNamespace

    from ollama_gate.credentials import service_candidates

    until = dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)
    current = Secret(SERVICE, NEW, until)
    files = service_candidates(auth.mode("bearer"), SERVICE, [Secret(SERVICE, OLD), Secret("ci", OLDER)],
                               {SERVICE: current, "ci": CI}, SimpleNamespace(), b"k" * 32)
    assert files == [keys_content({SERVICE: Secret(SERVICE, OLD)}), keys_content({SERVICE: current})]
    assert files[1].endswith(f":{int(until.timestamp())}\n")
