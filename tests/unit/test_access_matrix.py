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
