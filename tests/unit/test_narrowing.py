"""auth_credentials narrows a host to the names it lists; the others of the section stay out.

The lab has one credential per section, so only a file with two names where one is
listed can show a host that accepts every credential of the secrets file.
"""

import pytest

from ollama_gate import auth, checks
from ollama_gate.config import check_hosts
from ollama_gate.credentials import parse_credential_lines
from ollama_gate.secrets_file import credentials_for, load_secrets

ALICE_PW = "Xq7vLp2Rk9tZw4Nc8HjB3sDf6G"
BOB_PW = "Hm4tQw9Zr2Lk7Vc5Nx8Bp3Jd6F"
CI_KEY = "og_Qm7vX2pLk9RtZ4wNc8HjB3sDf6GyA1eU5oIi0"
LAPTOP_KEY = "og_Zt5rW8nM2xC4vB7kL9pQ3sD6fG1hJ0aE2yU4i"
SECRETS = (f"users:\n  alice: {ALICE_PW}\n  bob: {BOB_PW}\n"
           f"keys:\n  ci: {CI_KEY}\n  laptop: {LAPTOP_KEY}\n")


@pytest.fixture
def secrets_path(tmp_path):
    path = tmp_path / "secrets.yml"
    path.write_text(SECRETS)
    return path


@pytest.mark.parametrize("mode,listed,other", [("basic", "bob", "alice"), ("bearer", "laptop", "ci")])
def test_only_the_listed_name_is_accepted(secrets_path, mode, listed, other):
    secrets = load_secrets(secrets_path)
    assert sorted(credentials_for(secrets, mode, ())) == sorted([listed, other])  # empty: all
    narrowed = credentials_for(secrets, mode, (listed,))
    assert list(narrowed) == [listed]
    assert narrowed[listed] is secrets.section(mode)[listed]


def test_each_host_gets_its_own_names(secrets_path, tmp_path):
    configs = check_hosts([
        ("all-users", {}),
        ("bob-only", {"auth_credentials": ["bob"]}),
        ("laptop-only", {"auth_mode": "bearer", "auth_credentials": ["laptop"]}),
        ("both-keys", {"auth_mode": "bearer", "auth_credentials": ["laptop", "ci"]}),
    ], tmp_path, secrets_path)
    assert list(configs["all-users"].credentials) == ["alice", "bob"]
    assert list(configs["bob-only"].credentials) == ["bob"]
    assert list(configs["laptop-only"].credentials) == ["laptop"]
    assert list(configs["both-keys"].credentials) == ["ci", "laptop"]


def test_the_credential_file_and_the_verification_hold_only_the_listed_name(secrets_path, tmp_path):
    configs = check_hosts([("b", {"auth_credentials": ["bob"]}),
                           ("k", {"auth_mode": "bearer", "auth_credentials": ["laptop"]})], tmp_path, secrets_path)
    for host, name, other in (("b", "bob", "alice"), ("k", "laptop", "ci")):
        cfg = configs[host]
        mode = auth.mode_of(cfg.settings)
        text = mode.render_credentials(cfg.credentials, cfg.settings, key=cfg.installation_key)
        assert list(parse_credential_lines(text)) == [name], mode.credential_file
        accepted = [p.credential for p in checks.plan(cfg.settings, cfg.credentials) if p.check == checks.ACCEPTED]
        assert accepted == [name]
        assert all(other not in p.credential for p in checks.plan(cfg.settings, cfg.credentials))


def test_a_name_of_the_other_section_is_not_found(secrets_path, tmp_path):
    """A key name listed on a basic host is not quietly taken from keys:."""
    from ollama_gate.settings import ConfigError

    with pytest.raises(ConfigError) as exc:
        check_hosts([("h", {"auth_credentials": ["ci"]})], tmp_path, secrets_path)
    assert exc.value.errors[0].startswith("h: auth_credentials: 'ci' not found under 'users:'")


@pytest.mark.parametrize("names", [(), ("alice",)])
def test_a_secrets_file_built_without_expired_entries_assigns_as_read(tmp_path, names):
    from ollama_gate.secrets_file import Secret, SecretsFile, assign

    alice = Secret("alice", ALICE_PW)
    assignment = assign(SecretsFile(tmp_path / "s.yml", {"alice": alice}, {}), "basic", names)
    assert assignment.credentials == {"alice": alice} and assignment.revoked == ()
