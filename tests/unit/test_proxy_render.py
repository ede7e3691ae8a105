"""Rendering the proxy config: pure text checks (the real nginx runs in tests/integration)."""

from __future__ import annotations

import re
from dataclasses import replace

import jinja2
import pytest

from ollama_gate import auth, proxy
from ollama_gate.settings import Settings
from tests import routes

BASIC = Settings()
BEARER = replace(Settings(), auth_mode="bearer")


def conf(settings=BASIC, **kwargs) -> str:
    return proxy.render_proxy_config(settings, **kwargs)[proxy.CONF_FILENAME]


def locations(text: str) -> dict[str, str]:
    """location header -> body, for the server's (un-nested) location blocks."""
    return {m.group(1).strip(): m.group(2) for m in re.finditer(r"^    location ([^{]+)\{\n(.*?)^    \}", text, re.S | re.M)}


def test_product_files_per_mode_and_tls():
    assert set(proxy.render_proxy_config(BASIC)) == {"ollama-gate.conf"}
    assert set(proxy.render_proxy_config(BEARER)) == {"ollama-gate.conf", "ollama_gate_auth.lua", "ollama-gate.main"}
    tls = proxy.render_proxy_config(replace(BEARER, proxy_tls="self-signed"))
    assert set(tls) == {"ollama-gate.conf", "ollama_gate_auth.lua", "ffdhe2048.pem", "ollama-gate.main"}
    # Outside the product's images (the tests' Debian nginx) there is no *.main include.
    assert "ollama-gate.main" not in proxy.render_proxy_config(BEARER, flavor="debian")
    assert "BEGIN DH PARAMETERS" in tls["ffdhe2048.pem"]


def test_product_paths_are_the_container_paths():
    basic = conf(BASIC)
    assert "auth_basic_user_file /etc/ollama-gate/auth/htpasswd;" in basic
    assert "server ollama:11434;" in basic
    assert "listen 80;" in basic
    bearer = conf(replace(BEARER, proxy_tls="provided"))
    assert 'keys_file = "/etc/ollama-gate/auth/keys.sha256"' in bearer
    assert 'dofile("/etc/nginx/conf.d/ollama_gate_auth.lua")' in bearer
    # The images' own nginx.conf may set it; a second one would be a duplicate directive.
    assert not re.search(r"^\s*lua_package_path", bearer, re.M)
    assert "listen 443 ssl;" in bearer
    assert "ssl_certificate /etc/ollama-gate/tls/cert.pem;" in bearer
    assert "ssl_certificate_key /etc/ollama-gate/tls/key.pem;" in bearer
    assert "ssl_dhparam /etc/nginx/conf.d/ffdhe2048.pem;" in bearer


def test_every_proxying_location_authenticates_and_never_returns():
    for settings, auth in ((BASIC, "auth_basic_user_file"), (BEARER, "access_by_lua_block")):
        blocks = locations(conf(settings))
        proxying = {name: body for name, body in blocks.items() if "proxy_pass" in body}
        exact = {name.removeprefix("= "): body for name, body in proxying.items() if name.startswith("= ")}
        regex = {name.removeprefix("~ "): body for name, body in proxying.items() if name.startswith("~ ")}
        assert sorted(exact) == sorted(routes.ALLOWED)
        assert sorted(regex) == ["^/v1/models/[A-Za-z0-9][A-Za-z0-9._:-]*$"]
        for name, body in proxying.items():
            assert auth in body, name
            assert "return" not in body and "rewrite" not in body, name
        for route, body in exact.items():
            assert f"proxy_pass http://ollama_gate_ollama{route};" in body
        for body in regex.values():
            assert "proxy_pass http://ollama_gate_ollama$uri$is_args$args;" in body
        # Outside the proxying locations nothing authenticates, so nothing else may proxy.
        assert sum("proxy_pass" in body for body in blocks.values()) == len(routes.ALLOWED) + 1


def test_admin_routes_and_fallback_return_before_anything_else():
    blocks = locations(conf(BEARER))
    admin = "~* ^/api/(pull|push|delete|create|copy|blobs)(/|$)"
    assert blocks[admin].strip() == "return 403;"
    assert blocks["/"].strip() == "return 404;"


def test_no_location_overrides_server_headers():
    # add_header in a location would drop the server's HSTS header there.
    text = conf(replace(BASIC, proxy_tls="self-signed"))
    assert 'add_header Strict-Transport-Security "max-age=63072000" always;' in text
    assert all("add_header" not in body for body in locations(text).values())
    assert "Strict-Transport-Security" not in conf(replace(BASIC, proxy_tls="self-signed", proxy_hsts=False))
    assert "Strict-Transport-Security" not in conf(BASIC)


def test_mozilla_intermediate_tls():
    text = conf(replace(BASIC, proxy_tls="provided"))
    assert "ssl_protocols TLSv1.2 TLSv1.3;" in text
    assert "ssl_prefer_server_ciphers off;" in text
    assert "ssl_session_tickets off;" in text
    assert "ssl_" not in conf(BASIC)


def test_streaming_and_upstream_settings():
    text = conf(replace(BASIC, proxy_read_timeout=900, proxy_max_body="8m"))
    for line in (
        "proxy_http_version 1.1;",
        'proxy_set_header Connection "";',
        'proxy_set_header Authorization "";',
        'proxy_set_header Host "localhost:11434";',
        "proxy_buffering off;",
        "keepalive 16;",
        "proxy_read_timeout 900s;",
        "client_max_body_size 8m;",
        "server_tokens off;",
    ):
        assert line in text


def test_failure_limit_counts_only_failures():
    text = conf(replace(BASIC, auth_fail_limit=7))
    assert "rate=7r/m;" in text
    assert "burst=6 nodelay;" in text
    assert "error_page 401 = @denied;" in text
    denied = locations(text)["@denied"]
    assert "limit_req zone=ollama_gate_fail" in denied
    # limit_req appears nowhere else: valid requests are never counted.
    assert text.count("limit_req zone=") == 1
    assert "burst=0 nodelay;" in conf(replace(BASIC, auth_fail_limit=1))


def test_log_names_user_or_key_never_the_header():
    assert "$remote_user" in conf(BASIC)
    assert "$ollama_gate_user" in conf(BEARER)
    for text in (conf(BASIC), conf(BEARER)):
        log_format = text.split("log_format", 1)[1].split(";", 1)[0]
        assert "authorization" not in log_format.lower()
        assert "$http_" in log_format  # only the user agent
        assert "$http_user_agent" in log_format and log_format.count("$http_") == 1


def test_test_overrides_move_every_path():
    text = conf(BEARER, flavor="debian", listen_port=18080, listen_address="127.0.0.1", upstream="127.0.0.1:9",
                conf_dir="/tmp/g/conf.d", auth_dir="/tmp/g/auth", tls_dir="/tmp/g/tls", access_log="/tmp/g/a.log")
    assert "listen 127.0.0.1:18080;" in text
    assert "server 127.0.0.1:9;" in text
    assert "/etc/" not in text and "/dev/stdout" not in text


@pytest.mark.parametrize("field,value", [
    ("auth_realm", 'x"; include /etc/passwd; #'),
    ("auth_realm", "$remote_addr"),
    ("auth_realm", ""),
    ("auth_realm", "off"),
    ("auth_realm", "OFF"),
    ("proxy_max_body", "0"),
    ("proxy_max_body", "0m"),
    ("proxy_max_body", "32m; allow all"),
    ("proxy_max_body", "lots"),
    ("auth_mode", "none"),
    ("proxy_tls", "on"),
    ("auth_fail_limit", 0),
    ("proxy_read_timeout", 0),
])
def test_unsafe_or_unknown_values_are_refused(field, value):
    with pytest.raises(ValueError, match=field):
        proxy.render_proxy_config(replace(Settings(), **{field: value}))


@pytest.mark.parametrize("kwargs", [
    {"upstream": "ollama:11434; deny all"},
    {"upstream_host": "localhost\r\nX: y"},
    {"auth_dir": "/etc/x y"},
    {"listen_address": "0.0.0.0;"},
    {"flavor": "apache"},
])
def test_unsafe_render_arguments_are_refused(kwargs):
    with pytest.raises(ValueError):
        proxy.render_proxy_config(BASIC, **kwargs)


def test_bearer_mode_needs_a_flavor_with_lua():
    with pytest.raises(ValueError, match="needs Lua"):
        proxy.render_proxy_config(BEARER, flavor="nginx")


def test_worker_gid_follows_the_image_of_the_mode():
    assert auth.mode_of(BASIC).flavor == "nginx"
    assert auth.mode_of(BEARER).flavor == "openresty"
    assert auth.mode_of(BASIC).worker_gid == 101
    assert auth.mode_of(BEARER).worker_gid == 65534


def test_templates_are_strict():
    from ollama_gate import TEMPLATES as env
    assert env.undefined is jinja2.StrictUndefined
    with pytest.raises(jinja2.UndefinedError):
        env.get_template(f"proxy/{proxy.CONF_FILENAME}.j2").render({})


def test_main_conf_mirrors_the_images():
    text = proxy.main_conf("debian", prefix="/tmp/p", include="/tmp/p/conf.d/*.conf", workers=3)
    assert "worker_processes 3;" in text
    assert text.index("load_module /usr/lib/nginx/modules/ndk_http_module.so;") < text.index(
        "load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;")
    assert "user nobody nogroup;" in text
    assert re.search(r"http \{.*include /tmp/p/conf.d/\*.conf;.*\}", text, re.S)
    assert "load_module" not in proxy.main_conf("openresty", prefix="/p", include="/p/*.conf", workers=1)
