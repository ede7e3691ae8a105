"""Single values at their edges (accepted and refused, with the message a user reads), the
URL and name helpers the TLS and ACME code use, the checks across settings, and where the
defaults come from."""

from __future__ import annotations

import dataclasses

import pytest

from ollama_gate import settings
from ollama_gate.images import archive_filename
from ollama_gate.settings import (ConfigError, Settings, acme_names, memory_bytes, public_host, public_port,
                                  settings_from_data)


def errors_of(data, base_dir) -> list[str]:
    with pytest.raises(ConfigError) as err:
        settings_from_data(data, base_dir)
    return err.value.errors


@pytest.mark.parametrize("name, value, message", [
    ("proxy_hsts", "yes", "proxy_hsts: must be True or False, got str 'yes'"),
    ("proxy_tls_cert", 5, "proxy_tls_cert: must be a string, got int 5"),
    ("docker_daemon_options", [], "docker_daemon_options: must be a dict (written as /etc/docker/daemon.json), "
                                  "got list"),
    ("docker_users", "ops", "docker_users: must be a list of user names, got str 'ops'"),
    ("docker_users", ["ops", ""], "docker_users: must be a list of user names, got item ''"),
    ("docker_users", ["ops", 5], "docker_users: must be a list of user names, got item 5"),
    ("proxy_memory_limit", "lots", "proxy_memory_limit: 'lots' is not a Docker memory size like 32m or 8g"),
    ("ollama_memory_limit", "lots", "ollama_memory_limit: 'lots' is not a Docker memory size like 512m or 8g "
                                    "(or 'auto')"),
    ("proxy_memory_limit", "31m", "proxy_memory_limit: '31m' is below 32m, too little for the container to start"),
    ("proxy_max_body", "0M", "proxy_max_body: 0 would mean no limit at all in nginx; give a size like 32m"),
    ("gateway_qwxz_plmk", 1, "gateway_qwxz_plmk: not an ollama-gate setting"),
])
def test_a_refused_value_says_why_in_full(name, value, message, tmp_path):
    assert errors_of({name: value}, tmp_path) == [message]


@pytest.mark.parametrize("url", ["https://a]b[:8880", "https://[2001:db8::1]]:8880", "https://gpu1:8880:9000",
                                 "https://[gpu1]:8880"])
def test_a_public_url_with_a_malformed_host_is_refused(url, tmp_path):
    assert errors_of({"proxy_public_url": url}, tmp_path) == [
        f"proxy_public_url: {url!r} must be empty or a URL like https://gpu1.example.com:8880"]


@pytest.mark.parametrize("name, value", [
    ("stack_dir", "/X"),
    ("proxy_max_body", "1G"),
    ("proxy_memory_limit", "32m"),
    ("proxy_memory_limit", "1G"),
    ("ollama_memory_limit", "1g"),
    ("ollama_memory_limit", "512m"),
])
def test_values_at_the_edge_are_accepted(name, value, tmp_path):
    assert getattr(settings_from_data({name: value}, tmp_path), name) == value


def test_memory_sizes_in_bytes():
    assert memory_bytes("256m") == 256 * 2 ** 20
    assert memory_bytes("8G") == 8 * 2 ** 30
    assert memory_bytes("512k") == 512 * 2 ** 10


LONGEST = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 61])  # 253 characters


@pytest.mark.parametrize("name", ["example.com", "GPU1.Example.com", "gpu1.example.com.", "Example.XX", LONGEST])
def test_acme_names_a_ca_can_validate(name, tmp_path):
    assert settings_from_data({"proxy_acme_names": [name]}, tmp_path).proxy_acme_names == (name,)


@pytest.mark.parametrize("name", [".example.com", "localhost", LONGEST + "d", "gpu1..example.com", "192.0.2.1"])
def test_acme_names_a_ca_cannot_validate(name, tmp_path):
    assert errors_of({"proxy_acme_names": [name]}, tmp_path) == [
        f"proxy_acme_names: {name!r} is not a DNS name the CA can validate over HTTP-01 (no IP addresses, "
        "no wildcards)"]


@pytest.mark.parametrize("url, host, port", [
    ("https://gpu1.example.com/", "gpu1.example.com", 443),
    ("http://gpu1.example.com", "gpu1.example.com", 80),
    ("http://gpu1.example.com/", "gpu1.example.com", 80),
    ("https://GPU1.BOX/", "GPU1.BOX", 443),
    ("http://192.0.2.10:8880/", "192.0.2.10", 8880),
    ("https://[2001:db8::1]", "2001:db8::1", 443),
    ("https://[2001:db8::1]:8443", "2001:db8::1", 8443),
    ("https://10X", "10X", 443),  # a host name that ends in letters after digits has no port
])
def test_public_host_and_port_of_a_url(url, host, port):
    s = Settings(proxy_public_url=url)
    assert (public_host(s), public_port(s)) == (host, port)


def test_acme_names_fall_back_to_the_public_host_or_to_none():
    assert acme_names(Settings()) == ()
    assert acme_names(Settings(proxy_public_url="https://gpu1.example.com:8443")) == ("gpu1.example.com",)
    assert acme_names(Settings(proxy_acme_names=("a.example.com",), proxy_public_url="https://b.example.com")) == (
        "a.example.com",)


def test_defaults_are_read_from_group_data_and_copied_per_host():
    assert settings._read_defaults() == settings.DEFAULTS
    assert set(settings.DEFAULTS) == set(settings.SETTING_NAMES)
    assert settings._default("proxy_port") == 8880
    assert settings._default("docker_users") == ()  # a list in group_data: a tuple here
    daemon = settings._default("docker_daemon_options")
    assert isinstance(daemon, dataclasses.Field)
    assert daemon.default_factory() == settings.DEFAULTS["docker_daemon_options"]
    assert daemon.default_factory() is not settings.DEFAULTS["docker_daemon_options"]
    assert Settings().ollama_environment is not Settings().ollama_environment


# --- Checks across settings ----------------------------------------------------------

def test_every_cross_check_problem_is_reported_together(tmp_path):
    (tmp_path / "cert.pem").write_text("not a certificate\n")
    (tmp_path / "key.pem").write_text("not a key\n")
    errors = errors_of({"models": [], "models_source": "local", "proxy_tls": "provided",
                        "proxy_tls_cert": "cert.pem", "proxy_tls_key": "key.pem"}, tmp_path)
    assert [e.split(":")[0] for e in errors] == ["verify_generate", "models_local_path", "proxy_tls_cert",
                                                 "proxy_tls_key"]


def test_missing_local_files_are_named_where_they_were_looked_for(tmp_path):
    errors = errors_of({"proxy_tls": "provided", "proxy_tls_cert": "tls/cert.pem", "proxy_tls_key": "tls/key.pem"},
                       tmp_path)
    assert errors == [f"proxy_tls_cert: no such local file {str(tmp_path / 'tls/cert.pem')!r}",
                      f"proxy_tls_key: no such local file {str(tmp_path / 'tls/key.pem')!r}"]
    errors = errors_of({"proxy_tls": "acme", "proxy_acme_names": ["gpu1.example.com"], "proxy_http_port": 8081,
                        "proxy_acme_ca_cert": "ca.pem"}, tmp_path)
    assert errors == [f"proxy_acme_ca_cert: no such local file {str(tmp_path / 'ca.pem')!r}"]


def test_a_relative_archive_dir_is_read_beside_the_inventory(tmp_path, monkeypatch):
    archive = tmp_path / "images"
    archive.mkdir()
    for ref in (Settings().images_ollama, Settings().images_nginx):
        (archive / archive_filename(ref)).write_text("")
    monkeypatch.chdir("/")
    s = settings_from_data({"images_source": "archive", "images_archive_dir": "images"}, tmp_path)
    assert s.images_archive_dir == "images"
    (archive / archive_filename(Settings().images_nginx)).unlink()
    assert errors_of({"images_source": "archive", "images_archive_dir": "images"}, tmp_path) == [
        f"images_archive_dir: images_source is 'archive' but "
        f"{str(archive / archive_filename(Settings().images_nginx))!r} (docker save {Settings().images_nginx}) "
        "does not exist"]


def test_the_gateways_backend_ca_is_a_local_file_beside_the_inventory(tmp_path, monkeypatch):
    monkeypatch.chdir("/")
    assert errors_of({"gateway_backend_ca": "tls/backends.pem"}, tmp_path) == [
        f"gateway_backend_ca: no such local file {str(tmp_path / 'tls/backends.pem')!r}"]
    (tmp_path / "tls").mkdir()
    (tmp_path / "tls" / "backends.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    assert settings_from_data({"gateway_backend_ca": "tls/backends.pem"}, tmp_path).gateway_backend_ca == \
        "tls/backends.pem"
