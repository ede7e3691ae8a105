"""The gateway's rendered proxy config: pool, retries, service credential (pure rendering)."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from ollama_gate import proxy
from ollama_gate.gateway import Backend, Pool, service_auth_conf
from ollama_gate.secrets_file import Secret
from ollama_gate.settings import Settings

POOL = Pool(backends=(Backend("gpu-1", "10.0.0.11:8880", 3), Backend("gpu-2", "10.0.0.12:8880", 1)),
            max_fails=2, fail_timeout=10)


def conf(pool=POOL, **settings):
    return proxy.render_proxy_config(replace(Settings(), **settings), pool=pool)[proxy.CONF_FILENAME]


def test_pool_is_least_conn_with_weights_health_and_keepalive():
    text = conf()
    upstream = text[text.index("upstream ollama_gate_ollama {"):]
    upstream = upstream[:upstream.index("}")]
    assert "least_conn;" in upstream
    assert "server 10.0.0.11:8880 weight=3 max_fails=2 fail_timeout=10s;  # gpu-1" in upstream
    assert "server 10.0.0.12:8880 weight=1 max_fails=2 fail_timeout=10s;  # gpu-2" in upstream
    assert re.search(r"keepalive \d+;", upstream)


def test_only_a_backends_503_is_passed_on_for_posts():
    text = conf()
    lines = [line.strip() for line in text.splitlines() if line.strip().startswith("proxy_next_upstream ")]
    # non_idempotent only with http_503 (nothing processed); the retry pass keeps nginx's rule.
    assert lines == ["proxy_next_upstream http_503 non_idempotent;",
                     "proxy_next_upstream error timeout http_502 http_503 http_504;",
                     "proxy_next_upstream error timeout http_502 http_503 http_504;"]
    assert text.count("$upstream_bytes_sent !~") == 2


def test_gateway_sends_its_include_not_an_empty_authorization():
    text = conf()
    assert 'proxy_set_header Authorization "";' not in text
    assert f"include {proxy.AUTH_DIR}/{proxy.SERVICE_AUTH_FILENAME};" in text
    assert "proxy_buffering off;" in text


def test_every_allowed_route_of_a_gateway_keeps_the_401_handler():
    text = conf()
    for route in proxy.ALLOWED_ROUTES:
        block = text[text.index(f"location = {route} {{"):]
        block = block[:block.index("\n    }")]
        assert "error_page 401 = @denied;" in block
        assert "auth_basic " in block


def test_the_retry_locations_authenticate_too():
    for mode, marker in (("basic", "auth_basic "), ("bearer", "access_by_lua_block")):
        text = conf(auth_mode=mode)
        for code in (502, 504):
            block = text[text.index(f"location @ollama_gate_unsent_{code} {{"):]
            block = block[:block.index("\n    }")]
            assert marker in block


def test_a_plain_endpoint_is_unchanged_but_says_503_when_ollama_got_nothing():
    text = proxy.render_proxy_config(Settings())[proxy.CONF_FILENAME]
    assert "least_conn" not in text and "include" not in text
    assert 'proxy_set_header Authorization "";' in text
    assert "error_page 502 = @ollama_unreached_502;" in text


@pytest.mark.parametrize("backend", [
    Backend("gpu-1", "10.0.0.1:8880; include /etc/passwd"),
    Backend("gpu 1", "10.0.0.1:8880"),
    Backend("gpu-1", "10.0.0.1:8880", 0),
])
def test_unsafe_pool_values_are_refused(backend):
    with pytest.raises(ValueError):
        conf(pool=Pool(backends=(backend,)))


def test_empty_pool_is_refused():
    with pytest.raises(ValueError, match="at least one backend"):
        conf(pool=Pool(backends=()))


TLS_POOL = Pool(backends=(Backend("gpu-1", "10.0.0.11:8880", 3, tls_name="gpu-1"),
                          Backend("gpu-2", "10.0.0.12:8443", 1, tls_name="gpu2.example.com")),
                tls=True, trusted_certs="-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")


def test_tls_pool_verifies_each_backend_by_its_own_name():
    files = proxy.render_proxy_config(Settings(), pool=TLS_POOL)
    text = files[proxy.CONF_FILENAME]
    assert "proxy_pass https://ollama_gate_ollama/api/generate;" in text
    assert "proxy_ssl_verify on;" in text and "proxy_ssl_verify off" not in text
    assert "proxy_ssl_name $ollama_gate_backend_name;" in text
    names = text[text.index("map $upstream_addr $ollama_gate_backend_name {"):]
    names = names[:names.index("}")]
    # The address nginx dialled last picks the name; anything else checks a name no
    # certificate carries.
    assert "volatile;" in names
    assert '"~(^|\\s)10\\.0\\.0\\.11:8880$" "gpu-1";' in names
    assert '"~(^|\\s)10\\.0\\.0\\.12:8443$" "gpu2.example.com";' in names
    assert 'default "unknown-backend.invalid";' in names
    assert files[proxy.BACKEND_CA_FILENAME] == TLS_POOL.trusted_certs
    with pytest.raises(ValueError, match="certificates"):
        proxy.render_proxy_config(Settings(), pool=replace(TLS_POOL, trusted_certs="not a pem"))
    # The deploy writes the bundle itself (gateway.trust_bundle) once the certs are fetched.
    assert proxy.render_proxy_config(Settings(), pool=replace(TLS_POOL, trusted_certs=""))[
        proxy.BACKEND_CA_FILENAME] == ""


def test_a_plain_pool_has_no_tls_to_its_backends():
    text = conf()
    assert "proxy_ssl" not in text and "$ollama_gate_backend_name" not in text
    assert "proxy_pass http://ollama_gate_ollama/api/generate;" in text
    assert proxy.BACKEND_CA_FILENAME not in proxy.render_proxy_config(Settings(), pool=POOL)


@pytest.mark.parametrize("backend, why", [
    (Backend("gpu-1", "gpu1.lan:8443", tls_name="gpu-1"), "address of TLS backend gpu-1"),
    (Backend("gpu-1", "10.0.0.11:8443", tls_name=""), "certificate name of backend gpu-1"),
    (Backend("gpu-1", "10.0.0.11:8443", tls_name='x"; proxy_ssl_verify off; #'), "certificate name"),
    (Backend("gpu-1", "10.0.0.256:8443", tls_name="gpu-1"), "address of TLS backend"),
])
def test_tls_backends_need_an_ip_address_and_a_safe_name(backend, why):
    with pytest.raises(ValueError, match=re.escape(why)):
        proxy.render_proxy_config(Settings(), pool=replace(TLS_POOL, backends=(backend,)))


def test_service_auth_include_refuses_values_that_could_inject():
    assert service_auth_conf(Secret("svc", "Bearer og_abc-DEF_123")).endswith(
        'proxy_set_header Authorization "Bearer og_abc-DEF_123";\n')
    for bad in ('Bearer og_x"; return 200; #', "Bearer $remote_addr", "Basic a b", "og_key"):
        with pytest.raises(ValueError) as err:
            service_auth_conf(Secret("svc", bad))
        assert bad not in str(err.value)


def test_an_unsafe_pool_value_is_refused_naming_what_it_is():
    for backend, what in ((Backend("gpu 1", "10.0.0.1:8880"), "backend name='gpu 1'"),
                          (Backend("gpu-1", "10.0.0.1:8880; include /etc/passwd"),
                           "address of backend gpu-1='10.0.0.1:8880; include /etc/passwd'")):
        with pytest.raises(ValueError) as err:
            conf(pool=Pool(backends=(backend,)))
        assert str(err.value) == f"proxy config: {what} is not allowed here"
    assert "weight=1000 " in conf(pool=Pool(backends=(Backend("gpu-1", "10.0.0.1:8880", 1000),)))


def test_tls_backends_are_told_apart_by_the_address_nginx_dialled():
    pool = Pool(backends=(Backend("gpu-1", "10.0.0.1:8443", tls_name="gpu1.example.com"),), tls=True)
    assert proxy.backend_name_map(pool) == [("~(^|\\s)10\\.0\\.0\\.1:8443$", "gpu1.example.com")]


def test_pool_numbers_out_of_their_range_are_refused_saying_the_range():
    with pytest.raises(ValueError) as err:
        conf(pool=Pool(backends=(Backend("gpu-1", "10.0.0.1:8880", 1001),)))
    assert str(err.value) == "proxy config: weight of backend gpu-1 must be 1-1000, got 1001"
    assert "max_fails=100000 " in conf(pool=replace(POOL, max_fails=100000))
    for value in (0, 100001):
        with pytest.raises(ValueError) as err:
            conf(pool=replace(POOL, max_fails=value))
        assert str(err.value) == f"proxy config: pool max_fails={value} must be from 1 to 100000"
