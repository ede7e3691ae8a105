"""Settings: every rejection names the setting and says why."""

import pytest

from tests.certs import tls_pair

from ollama_gate.image_names import image_ref_error
from ollama_gate.model_names import model_name_error
from ollama_gate.settings import ConfigError, Settings, settings_from_data


def errors_of(data, base_dir=None):
    with pytest.raises(ConfigError) as exc:
        settings_from_data(data, base_dir)
    return exc.value.errors


def test_defaults_are_valid_and_match_group_data():
    import runpy
    from ollama_gate import PROJECT_DIR

    defaults = {k: v for k, v in runpy.run_path(str(PROJECT_DIR / "group_data/all.py")).items()
                if not k.startswith("_")}
    s = settings_from_data(defaults)
    assert s == Settings(**{k: tuple(v) if isinstance(v, list) else v for k, v in defaults.items()})
    assert s == settings_from_data({})


@pytest.mark.parametrize("name,value,expect", [
    ("auth_mode", "digest", "must be one of 'basic', 'bearer'"),
    ("proxy_port", True, "got bool"),
    ("proxy_port", 0, "from 1 to 65535"),
    ("proxy_port", 65536, "from 1 to 65535"),
    ("proxy_port", "http", "whole number"),
    ("proxy_port", 80.5, "whole number"),
    ("proxy_bind", "localhost", "not an IP address"),
    ("proxy_max_body", "32 MB", "not an nginx size"),
    ("proxy_tls", "on", "must be one of"),
    ("proxy_hsts", "yes", "True or False"),
    ("images_nginx", "nginx", "has no tag"),
    ("images_ollama", "ollama/ollama:latest", ":latest"),
    ("images_openresty", "Openresty/Openresty:1", "not a valid image reference"),
    ("images_source", "s3", "must be one of"),
    ("docker_install_method", "snap", "must be one of"),
    ("docker_users", "alice", "must be a list"),
    ("docker_daemon_options", {"x": {1, 2}}, "JSON"),
    ("stack_dir", "opt/gate", "absolute"),
    ("stack_dir", "/", "other than /"),
    ("stack_dir", "/opt/../etc", ".."),
    ("stack_project", "My Gate", "Compose project name"),
    ("models", "gemma3:1b", "must be a list"),
    ("models", ["gemma3:1b", "gemma3:1b"], "twice"),
    ("models", ["evil.example.com/x:1"], "registry host 'evil.example.com'"),
    ("models", ["localhost:5000/x"], "registry host"),
    ("models", ["hf.co/model:Q4"], "hf.co/<user>/<repository>"),
    ("models_source", "s3", "must be one of 'registry', 'local'"),
    ("models", ["bad name"], "not a model name"),
    ("models", ["a:b:c"], "not a model name"),
    ("auth_fail_limit", 0, "from 1"),
    ("auth_htpasswd_scheme", "md5", "must be one of"),
    ("auth_realm", 'a"b', "letters"),
    ("auth_realm", "off", "switch authentication off"),
    ("proxy_max_body", "0", "no limit"),
    ("verify_enabled", 1, "True or False"),
])
def test_bad_value_is_refused_naming_the_setting(name, value, expect):
    errs = errors_of({name: value})
    assert len(errs) == 1, errs
    assert errs[0].startswith(f"{name}: ")
    assert expect in errs[0]


def test_all_errors_are_reported_at_once():
    errs = errors_of({"auth_mode": "x", "proxy_port": True, "images_nginx": "nginx"})
    assert [e.split(":")[0] for e in errs] == ["auth_mode", "proxy_port", "images_nginx"]


def test_typo_in_a_setting_name_is_caught_with_a_suggestion():
    errs = errors_of({"auth_mdoe": "basic", "ssh_port": 22})
    assert errs == ["auth_mdoe: not an ollama-gate setting (did you mean auth_mode?)"]


def test_port_given_as_string_on_the_command_line_is_accepted():
    assert settings_from_data({"proxy_port": "9000"}).proxy_port == 9000


@pytest.mark.parametrize("ref", ["nginx:1.28.0", "ollama/ollama:0.12.6", "registry.local:5000/a/b:1",
                                 "nginx@sha256:" + "a" * 64, "nginx:1.28.0@sha256:" + "b" * 64])
def test_pinned_image_refs_pass(ref):
    assert image_ref_error(ref) is None


@pytest.mark.parametrize("name", ["gemma3:1b", "gemma3", "llama3.2:1b", "library/gemma3:1b",
                                  "registry.ollama.ai/library/gemma3:1b", "someone/model:q4_K_M",
                                  "hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M",
                                  "huggingface.co/org/model"])
def test_ollama_model_names_pass(name):
    assert model_name_error(name) is None


TLS = {"proxy_tls": "provided", "proxy_tls_cert": "cert.pem", "proxy_tls_key": "key.pem"}


def test_tls_provided_not_pem_is_refused_naming_the_setting(tmp_path):
    (tmp_path / "cert.pem").write_text("not a certificate\n")
    (tmp_path / "key.pem").write_text("not a key\n")
    errs = errors_of(TLS, tmp_path)
    assert f"proxy_tls_cert: {str(tmp_path / 'cert.pem')!r} is not a usable certificate (no PEM certificate could be parsed from it)" in errs
    assert f"proxy_tls_key: {str(tmp_path / 'key.pem')!r} is not a PEM private key" in errs


def test_tls_provided_expired_certificate_is_refused(tmp_path):
    tls_pair(tmp_path, days=10, offset_days=-30)
    errs = errors_of(TLS, tmp_path)
    assert len(errs) == 1 and errs[0].startswith("proxy_tls_cert: the certificate in") and "expired on" in errs[0]


def test_tls_provided_key_of_another_certificate_is_refused(tmp_path):
    tls_pair(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    tls_pair(other)
    (tmp_path / "key.pem").write_bytes((other / "key.pem").read_bytes())
    errs = errors_of(TLS, tmp_path)
    assert errs == [f"proxy_tls_key: the key in {str(tmp_path / 'key.pem')!r} does not belong to the "
                    f"certificate in {str(tmp_path / 'cert.pem')!r} (their public keys differ)"]


def test_tls_provided_encrypted_key_is_refused_without_showing_it(tmp_path):
    from cryptography.hazmat.primitives import serialization

    key = tls_pair(tmp_path)
    (tmp_path / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"a passphrase")))
    errs = errors_of(TLS, tmp_path)
    assert len(errs) == 1 and "is encrypted; nginx needs it without a passphrase" in errs[0]
    assert "PRIVATE KEY" not in errs[0]


def test_tls_provided_chain_uses_the_first_certificate(tmp_path):
    tls_pair(tmp_path)
    other = tmp_path / "ca"
    other.mkdir()
    tls_pair(other, name="ca.example.com")
    with open(tmp_path / "cert.pem", "ab") as f:
        f.write((other / "cert.pem").read_bytes())
    assert settings_from_data(TLS, tmp_path).proxy_tls == "provided"


def test_tls_provided_needs_existing_files(tmp_path):
    errs = errors_of({"proxy_tls": "provided", "proxy_tls_cert": "cert.pem"}, tmp_path)
    assert any(e.startswith("proxy_tls_cert: no such local file") for e in errs)
    assert any(e.startswith("proxy_tls_key: proxy_tls is 'provided'") for e in errs)
    tls_pair(tmp_path)
    s = settings_from_data({"proxy_tls": "provided", "proxy_tls_cert": "cert.pem", "proxy_tls_key": "key.pem"}, tmp_path)
    assert s.proxy_tls == "provided"


def test_archive_source_needs_the_archives_of_the_active_images(tmp_path):
    errs = errors_of({"images_source": "archive", "images_archive_dir": str(tmp_path)})
    assert len(errs) == 2 and all(e.startswith("images_archive_dir:") for e in errs)
    assert "ollama_ollama_0.12.6.tar" in errs[0] and "nginx_1.28.0.tar" in errs[1]
    (tmp_path / "ollama_ollama_0.12.6.tar").write_bytes(b"")
    (tmp_path / "nginx_1.28.0.tar").write_bytes(b"")
    # bearer mode would need the openresty archive instead of nginx's
    assert settings_from_data({"images_source": "archive", "images_archive_dir": str(tmp_path)})
    errs = errors_of({"images_source": "archive", "images_archive_dir": str(tmp_path), "auth_mode": "bearer"})
    assert len(errs) == 1 and "openresty" in errs[0]


def test_generate_check_needs_a_model():
    errs = errors_of({"models": []})
    assert errs[0].startswith("verify_generate:")
    assert settings_from_data({"models": [], "verify_generate": False}).models == ()


def test_local_models_need_a_store_holding_every_model(tmp_path):
    errs = errors_of({"models_source": "local"}, tmp_path)
    assert errs == ["models_local_path: models_source is 'local', so give the local path of an Ollama "
                    "models directory (manifests/ and blobs/) or of an archive of one (make models-archive)"]
    errs = errors_of({"models_source": "local", "models_local_path": "nowhere"}, tmp_path)
    assert errs[0].startswith("models_local_path: no such local directory or archive")
    (tmp_path / "models" / "manifests").mkdir(parents=True)
    (tmp_path / "models" / "blobs").mkdir()
    errs = errors_of({"models_source": "local", "models_local_path": "models"}, tmp_path)
    assert errs == [f"models_local_path: {tmp_path / 'models'} lacks 'gemma3:1b' "
                    "(no manifest manifests/registry.ollama.ai/library/gemma3/1b)"]
