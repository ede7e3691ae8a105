"""render_proxy_config's own arguments (not settings): each refusal names the argument it
refuses, the listen port at its limits, the image flavors' main-context file, acme's
plain-HTTP listener on a given address, and the deploy's default access log."""

from __future__ import annotations

from dataclasses import replace

import pytest

from ollama_gate import proxy
from ollama_gate.flavors import FLAVORS
from ollama_gate.settings import Settings

BASIC = Settings()
BEARER = replace(Settings(), auth_mode="bearer")


@pytest.mark.parametrize("argument,value", [
    ("listen_address", "0.0.0.0;"),
    ("upstream", "ollama:11434; deny all"),
    ("upstream_host", "localhost\r\nX: y"),
    ("conf_dir", "/etc/x y"),
    ("auth_dir", "/etc/x;y"),
    ("tls_dir", "relative/tls"),
    ("acme_webroot", "/var/www/$host"),
    ("access_log", "/dev/stdout main"),
])
def test_a_refused_render_argument_is_named_with_its_value(argument, value):
    with pytest.raises(ValueError) as refused:
        proxy.render_proxy_config(BASIC, **{argument: value})
    assert str(refused.value) == f"proxy config: {argument}={value!r} is not allowed here"


def test_an_unknown_flavor_is_named():
    with pytest.raises(ValueError) as refused:
        proxy.render_proxy_config(BASIC, flavor="apache")
    assert str(refused.value) == "proxy config: unknown flavor 'apache'"


@pytest.mark.parametrize("port", [1, 65535])
def test_listen_port_at_its_limits_is_rendered(port):
    assert f"    listen {port};\n" in proxy.render_proxy_config(BASIC, listen_port=port)[proxy.CONF_FILENAME]


@pytest.mark.parametrize("port", [0, 65536, -1])
def test_listen_port_outside_its_limits_is_refused(port):
    with pytest.raises(ValueError) as refused:
        proxy.render_proxy_config(BASIC, listen_port=port)
    assert str(refused.value) == f"proxy config: listen_port={port} is not a port"


def test_the_openresty_image_gets_its_pid_file_through_the_main_file():
    # The image's nginx.conf includes conf.d/*.main at the top level; its default pid path
    # is on the read-only root filesystem, so this file is what lets nginx start.
    for settings in (BEARER, replace(BEARER, proxy_tls="self-signed")):
        files = proxy.render_proxy_config(settings)
        assert files[proxy.MAIN_FILENAME] == (
            "# ollama-gate: main-context directives (the image's nginx.conf includes conf.d/*.main).\n"
            "# The root filesystem is read-only; the pid file goes to a tmpfs.\n"
            "pid /var/run/openresty/nginx.pid;\n")
    # The official nginx image keeps its own pid path (/run, a tmpfs): no main file.
    assert proxy.MAIN_FILENAME not in proxy.render_proxy_config(BASIC, flavor="nginx")


def test_an_unsafe_pid_file_of_a_flavor_is_refused_by_name(monkeypatch):
    monkeypatch.setitem(FLAVORS, "openresty", replace(FLAVORS["openresty"], pid_file="/run/x.pid; user root"))
    with pytest.raises(ValueError) as refused:
        proxy.render_proxy_config(BEARER)
    assert str(refused.value) == "proxy config: pid_file='/run/x.pid; user root' is not allowed here"


ACME = replace(BASIC, proxy_tls="acme", proxy_public_url="https://gpu1.example.org")


def test_acme_plain_http_listener_binds_the_listen_address():
    text = proxy.render_proxy_config(ACME, listen_address="127.0.0.1", listen_port=18443, http_port=18080)[
        proxy.CONF_FILENAME]
    assert "    listen 127.0.0.1:18080;\n" in text
    assert "    listen 127.0.0.1:18443 ssl;\n" in text
    everywhere = proxy.render_proxy_config(ACME, http_port=18080)[proxy.CONF_FILENAME]
    assert "    listen 18080;\n" in everywhere
    assert "127.0.0.1" not in everywhere


def test_the_deploy_logs_requests_to_the_containers_stdout():
    # deploy.py passes no access_log: the default is what `docker logs` shows.
    for settings in (BASIC, BEARER):
        text = proxy.render_proxy_config(settings)[proxy.CONF_FILENAME]
        assert "    access_log /dev/stdout ollama_gate;\n" in text
