"""Fleet problems in full: each names the gateway, the setting and what to change."""

from __future__ import annotations

from tests.unit.test_gateway_fleet import s

from ollama_gate.gateway import plan_fleet


def test_hosts_missing_from_the_group_map_are_plain_endpoints():
    fleet, errors = plan_fleet({"gw": s(backends=("gpu1",)), "gpu1": s(), "solo": s()}, {"gw": ["gateway"]})
    assert errors == [] and fleet.pools == {"gw": ("gpu1",)}
    assert [fleet.role(n) for n in ("gw", "gpu1", "solo")] == ["gateway", "backend", "endpoint"]


def test_every_problem_in_full():
    hosts = {"gw": s(backends=("a", "b")), "gw2": s(backends=("a",)), "a": s(mode="bearer"), "b": s()}
    _, errors = plan_fleet(hosts, {"gw": ["gateway"], "gw2": ["gateway"]})
    assert errors == [
        "gw: auth_mode: its backends differ (basic, bearer); the backends of one gateway share one auth_mode",
        "gw2: gateway_backends: 'a' is already a backend of 'gw'; a backend takes the model list of one gateway",
    ]


def test_backend_probes_state_summary_and_report_in_full():
    from ollama_gate.checks import Check
    from ollama_gate.gateway import Backend, Pool, backend_probes, backend_url, backends_report, pool_summary
    from ollama_gate.secrets_file import Secret

    service = Secret("gateway-1", "Bearer og_Qm7vX2pLk9RtZ4wNc8HjB3sDf6GyA1eU5oIi0")
    accepted, refused = backend_probes(service)
    assert (accepted.check, accepted.credential, accepted.method, accepted.path, accepted.expected) == \
        ("credential-accepted", "gateway-1", "GET", "/api/tags", 200)
    assert accepted.auth is service
    assert (refused.check, refused.credential, refused.method, refused.path, refused.expected, refused.auth) == \
        ("no-credential-refused", "(none)", "GET", "/api/tags", 401, None)

    a, b, c = Backend("gpu1", "10.0.0.1:8880", 2), Backend("gpu2", "10.0.0.2:8880"), Backend("gpu3", "10.0.0.3:8880")
    # With TLS the name its certificate carries (curl --resolve gives the address).
    assert backend_url(Backend("gpu1", "10.0.0.1:8880", tls_name="gpu1.lan"), True) == "https://gpu1.lan:8880"
    assert backend_url(a, False) == "http://10.0.0.1:8880"
    pool = Pool((a, b, c), max_fails=3, fail_timeout=20)
    up = Check("gpu1", "credential-accepted", "gateway-1", "GET", "/api/tags", "200", "200", True)
    down = Check("gpu2", "no-credential-refused", "(none)", "GET", "/api/tags", "401", "200", False)
    down2 = Check("gpu2", "credential-accepted", "gateway-1", "GET", "/api/tags", "200", "502", False)
    report = backends_report(pool, False, {"gpu1": [up], "gpu2": [up, down, down2]})
    assert report["gpu1"] == {"url": "http://10.0.0.1:8880", "weight": 2, "ok": True, "state": "up",
                              "checks": [up.__dict__]}
    assert report["gpu2"]["ok"] is False
    assert report["gpu2"]["state"] == ("no-credential-refused expected 401, got 200; "
                                       "credential-accepted expected 200, got 502")
    assert report["gpu3"] == {"url": "http://10.0.0.3:8880", "weight": 1, "ok": False, "state": "not checked",
                              "checks": []}
    assert pool_summary(pool, {"gpu1": "up"}) == [
        "Pool:            3 backend(s), least connections, out for 20s after 3 failure(s)",
        "  gpu1: 10.0.0.1:8880 weight 2: up",
        "  gpu2: 10.0.0.2:8880 weight 1: not checked",
        "  gpu3: 10.0.0.3:8880 weight 1: not checked",
    ]
