"""The access matrix and its warnings, in full, for an inventory with every kind of name:
assigned, unassigned, expired but listed, expiring soon, removed but listed."""

import datetime as dt

from ollama_gate.config import check_inventory

NOW = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.timezone.utc)
SECRETS = ('installation_key: "' + "ab" * 32 + '"\n'
           "users:\n  alice: Xq7vLp2Rk9tZw4Nc8HjB3sDf6G\n  bob: Hm4tQw9Zr2Lk7Vc5Nx8Bp3Jd6F\n"
           "  carol: {value: Pw8sN3kT6vR1xZ4mQ7cL2bJ5hD, expires: 2026-11-01}\n"
           "keys:\n  ci: {value: og_Qm7vX2pLk9RtZ4wNc8HjB3sDf6GyA1eU5oIi0, expires: '2026-12-01T00:00:00Z'}\n"
           "  lab: og_Zt5rW8nM2xC4vB7kL9pQ3sD6fG1hJ0aE2yU4i\n"
           "retired:\n  old: [Kd3sN8kT6vR1xZ4mQ7cL2bJ5hQ]\n")


def test_matrix_and_warnings_in_full(tmp_path):
    path = tmp_path / "s.yml"
    path.write_text(SECRETS)
    checked = check_inventory([("h1", {"auth_credentials": ["alice", "old", "carol"]}),
                               ("h2", {"auth_mode": "bearer", "auth_credentials": ["ci"]})], tmp_path, path, now=NOW)
    assert checked.matrix == [
        "access: credential names x hosts (from the inventory and the secrets file; no host asked)",
        "  credential  in       expires             h1       h2",
        "  alice       users    -                   yes      -",
        "  bob         users    -                   -        -",
        "  carol       users    expired 2026-11-01  revoked  -",
        "  ci          keys     2026-12-01          -        yes",
        "  lab         keys     -                   -        -",
        "  old         retired  removed             revoked  -",
    ]
    assert checked.warnings == [
        "'bob' (users:) is assigned to no host: add it to auth_credentials of a host with auth_mode basic "
        "(or leave that list empty for all)",
        "'carol' (users:) expired on 2026-11-01: not deployed, proved to get 401; still listed in auth_credentials "
        "of h1; rotate it with 'ollama-gate rotate carol --expires 30d' or remove it",
        "'ci' (keys:) expires 2026-12-01 (in 3.5 days); then it gets 401: rotate it with "
        "'ollama-gate rotate ci --expires 30d'",
        "'lab' (keys:) is assigned to no host: add it to auth_credentials of a host with auth_mode bearer "
        "(or leave that list empty for all)",
        "'old' was removed (retired), but the inventory still lists it in auth_credentials of h1: deployed as "
        "revoked there and proved to get 401; remove it from those lists",
    ]
    assert list(checked.configs["h1"].credentials) == ["alice"]
    assert sorted(checked.configs["h1"].revoked) == ["carol", "old"]
    assert list(checked.configs["h2"].credentials) == ["ci"]


def warnings_for(tmp_path, text, hosts, now=NOW):
    path = tmp_path / "s.yml"
    path.write_text('installation_key: "' + "ab" * 32 + '"\n' + text)
    return check_inventory(hosts, tmp_path, path, now=now).warnings


def test_an_expired_credential_no_host_lists_is_not_said_to_be_listed(tmp_path):
    text = ("users:\n  alice: Xq7vLp2Rk9tZw4Nc8HjB3sDf6G\n"
            "  carol: {value: Pw8sN3kT6vR1xZ4mQ7cL2bJ5hD, expires: 2026-11-01}\n")
    assert warnings_for(tmp_path, text, [("h1", {})]) == [
        "'carol' (users:) expired on 2026-11-01: not deployed, proved to get 401; "
        "rotate it with 'ollama-gate rotate carol --expires 30d' or remove it"]


def test_expiring_soon_is_warned_from_exactly_fourteen_days_with_the_days_left(tmp_path):
    text = ("users:\n  alice: {value: Xq7vLp2Rk9tZw4Nc8HjB3sDf6G, expires: '2026-12-11T12:00:00Z'}\n"
            "  bob: {value: Hm4tQw9Zr2Lk7Vc5Nx8Bp3Jd6F, expires: '2026-11-27T13:12:00Z'}\n"
            "  carol: {value: Pw8sN3kT6vR1xZ4mQ7cL2bJ5hD, expires: '2026-12-11T12:00:01Z'}\n")
    assert warnings_for(tmp_path, text, [("h1", {})]) == [
        "'alice' (users:) expires 2026-12-11T12:00:00Z (in 14.0 days); then it gets 401: rotate it with "
        "'ollama-gate rotate alice --expires 30d'",
        "'bob' (users:) expires 2026-11-27T13:12:00Z (in 0.1 days); then it gets 401: rotate it with "
        "'ollama-gate rotate bob --expires 30d'"]


def test_a_rotated_credential_still_listed_is_current_not_removed(tmp_path):
    text = ("users:\n  alice: Xq7vLp2Rk9tZw4Nc8HjB3sDf6G\n"
            "retired:\n  alice: [Kd3sN8kT6vR1xZ4mQ7cL2bJ5hQ]\n")
    assert warnings_for(tmp_path, text, [("h1", {"auth_credentials": ["alice"]})]) == []
    checked = check_inventory([("h1", {"auth_credentials": ["alice"]})], tmp_path, tmp_path / "s.yml", now=NOW)
    assert checked.matrix[2:] == ["  alice       users  -        yes"]


def test_a_host_listing_only_revoked_names_is_warned_with_them(tmp_path):
    text = ("users:\n  alice: Xq7vLp2Rk9tZw4Nc8HjB3sDf6G\n"
            "  carol: {value: Pw8sN3kT6vR1xZ4mQ7cL2bJ5hD, expires: 2026-11-01}\n"
            "retired:\n  old: [Kd3sN8kT6vR1xZ4mQ7cL2bJ5hQ]\n")
    warnings = warnings_for(tmp_path, text, [("h1", {}), ("h2", {"auth_credentials": ["old", "carol"]})])
    assert warnings[-1] == ("h2: has no valid credential (auth_credentials lists only revoked names: carol, old): "
                            "every request will get 401")
