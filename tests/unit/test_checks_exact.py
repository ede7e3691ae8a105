"""The verification's exact output: every probe of the plan and every judged check in full.

The report (JSON for CI) and the failure messages are what a person acts on, so each
field is asserted, not only ``ok``: a check that says "expected 200, got None" or names the
wrong credential would send someone the wrong way.
"""

import json

import pytest

from ollama_gate import checks as v
from ollama_gate.secrets_file import Secret
from ollama_gate.settings import Settings

BASIC = Settings(auth_mode="basic", models=("gemma3:1b", "qwen2.5"), proxy_read_timeout=120)
BEARER = Settings(auth_mode="bearer", models=("gemma3:1b",), auth_realm="lab gate")
USERS = {"bob": Secret("bob", "Hm4tQw9Zr2Lk7Vc5Nx8Bp3Jd6F"), "alice": Secret("alice", "Xq7vLp2Rk9tZw4Nc8HjB3sDf6G")}
KEYS = {"ci": Secret("ci", "og_Qm7vX2pLk9RtZ4wNc8HjB3sDf6GyA1eU5oIi0")}
OLD = Secret("carol", "Pw8sN3kT6vR1xZ4mQ7cL2bJ5hD")


def shape(p: v.Probe):
    return (p.check, p.credential, p.method, p.path, p.expected, p.body, p.max_time,
            None if p.auth is None else (p.auth.name, p.auth.reveal()))


def test_basic_plan_in_full():
    probes = v.plan(BASIC, USERS, [OLD], wrong_value="wrong-Zr2Lk7Vc5Nx8")
    gen_body = json.dumps({"model": "gemma3:1b", "prompt": "Reply with one word: ready", "stream": False,
                           "options": {"num_predict": 16}})
    basic = lambda user, pw: v.authorization("basic", user, pw).reveal()  # noqa: E731
    assert [shape(p) for p in probes] == [
        ("credential-accepted", "alice", "GET", "/api/tags", 200, None, 30,
         ("alice", basic("alice", USERS["alice"].reveal()))),
        ("credential-accepted", "bob", "GET", "/api/tags", 200, None, 30, ("bob", basic("bob", USERS["bob"].reveal()))),
        ("wrong-credential-refused", "alice (random password)", "GET", "/api/tags", 401, None, 30,
         ("alice", basic("alice", "wrong-Zr2Lk7Vc5Nx8"))),
        ("no-credential-refused", "(none)", "GET", "/api/tags", 401, None, 30, None),
        ("retired-credential-refused", "carol (retired value 1)", "GET", "/api/tags", 401, None, 30,
         ("carol", basic("carol", OLD.reveal()))),
        ("admin-route-forbidden", "alice", "POST", "/api/pull", 403, "{}", 30,
         ("alice", basic("alice", USERS["alice"].reveal()))),
        ("generate-returns-text", "alice", "POST", "/api/generate", 200, gen_body, 120,
         ("alice", basic("alice", USERS["alice"].reveal()))),
    ]
    assert basic("alice", "pw") == "Basic YWxpY2U6cHc="


def test_bearer_plan_in_full():
    probes = v.plan(BEARER, KEYS, [Secret("old", "og_Zt5rW8nM2xC4vB7kL9pQ3sD6fG1hJ0aE2yU4i")],
                    wrong_value="og_wrongwrongwrongwrongwrongwrong")
    key = KEYS["ci"].reveal()
    assert [shape(p)[:7] for p in probes] == [
        ("credential-accepted", "ci", "GET", "/api/tags", 200, None, 30),
        ("wrong-credential-refused", "(random key)", "GET", "/api/tags", 401, None, 30),
        ("no-credential-refused", "(none)", "GET", "/api/tags", 401, None, 30),
        ("retired-credential-refused", "old (retired value 1)", "GET", "/api/tags", 401, None, 30),
        ("admin-route-forbidden", "ci", "POST", "/api/pull", 403, "{}", 30),
        ("generate-returns-text", "ci", "POST", "/api/generate", 200, probes[-1].body, 300),
    ]
    assert [shape(p)[7] for p in probes] == [
        ("ci", f"Bearer {key}"), ("", "Bearer og_wrongwrongwrongwrongwrongwrong"), None,
        ("old", "Bearer og_Zt5rW8nM2xC4vB7kL9pQ3sD6fG1hJ0aE2yU4i"), ("ci", f"Bearer {key}"), ("ci", f"Bearer {key}")]


def test_a_host_without_credentials_still_proves_refusals():
    probes = v.plan(Settings(auth_mode="basic"), {}, wrong_value="x" * 24)
    assert [shape(p)[:5] for p in probes] == [
        ("wrong-credential-refused", "ollama-gate-verify (random password)", "GET", "/api/tags", 401),
        ("no-credential-refused", "(none)", "GET", "/api/tags", 401)]
    assert probes[0].auth.name == "ollama-gate-verify"
    assert [shape(p)[:5] for p in v.plan(Settings(auth_mode="bearer"), {})][0] == \
        ("wrong-credential-refused", "(random key)", "GET", "/api/tags", 401)


def test_wrong_values_are_fresh_and_shaped_like_the_mode():
    basic = {v.plan(BASIC, USERS)[2].auth.reveal() for _ in range(3)}
    assert len(basic) == 3
    key = v.plan(BEARER, KEYS)[1].auth.reveal()
    assert key.startswith("Bearer og_") and len(key) >= len("Bearer og_") + 43
    assert len(v.random_value("basic")) >= 32 and v.random_value("bearer").startswith("og_")


def judged(settings, probe, answer):
    return v.judge("gpu-1", settings, probe, answer)


def answer(status, www=(), models=None, response=None, curl_exit=0):
    return {"status": status, "www_authenticate": list(www), "content_type": None, "models": models,
            "response": response, "body": "", "curl_exit": curl_exit}


def probe(settings, creds, check):
    return next(p for p in v.plan(settings, creds, [OLD if settings is BASIC else
                                                    Secret("old", "og_Zt5rW8nM2xC4vB7kL9pQ3sD6fG1hJ0aE2yU4i")])
                if p.check == check)


BASIC_401 = "401 with WWW-Authenticate: Basic realm=\"ollama-gate\""
BEARER_WRONG = "401 with WWW-Authenticate: Bearer realm=\"lab gate\", error=\"invalid_token\""
JUDGED = [
    # (settings, creds, check, answer, (expected, actual, ok, detail))
    (BASIC, USERS, v.ACCEPTED, None, ("200", "no answer", False, "curl gave no output")),
    (BASIC, USERS, v.ACCEPTED, {}, ("200", "no answer", False, "curl gave no output")),
    (BASIC, USERS, v.ACCEPTED, answer(0, curl_exit=7), ("200", "no answer (curl exit 7)", False, "")),
    (BASIC, USERS, v.ACCEPTED, {"status": 0}, ("200", "no answer", False, "")),
    (BASIC, USERS, v.ACCEPTED, answer(500), ("200", "500", False, "")),
    (BASIC, USERS, v.ACCEPTED, answer(200), ("200", "200", False, "the answer is not Ollama's model list")),
    (BASIC, USERS, v.ACCEPTED, answer(200, models=["gemma3:1b"]),
     ("200 listing gemma3:1b, qwen2.5", "200, models listed: gemma3:1b", False, "")),
    (BASIC, USERS, v.ACCEPTED, answer(200, models=[]), ("200 listing gemma3:1b, qwen2.5", "200, models listed: none", False, "")),
    (BASIC, USERS, v.ACCEPTED, answer(200, models=["qwen2.5:latest", "gemma3:1b", 7]),
     ("200", "200", True, "models: gemma3:1b, qwen2.5:latest")),
    (Settings(models=()), USERS, v.ACCEPTED, answer(200, models=[]), ("200", "200", True, "models: none")),
    (BASIC, USERS, v.WRONG_REFUSED, answer(429), (BASIC_401, "429", True, "refused by the failed-authentication rate limit")),
    (BASIC, USERS, v.WRONG_REFUSED, answer(403), (BASIC_401, "403", False, "")),
    (BASIC, USERS, v.WRONG_REFUSED, answer(0, curl_exit=28), (BASIC_401, "no answer (curl exit 28)", False, "")),
    (BASIC, USERS, v.WRONG_REFUSED, answer(401), (BASIC_401, "401 with WWW-Authenticate: (none)", False, "")),
    (BASIC, USERS, v.WRONG_REFUSED, answer(401, ["Basic realm=\"x\"", "Basic realm=\"y\""]),
     (BASIC_401, "401 with WWW-Authenticate: Basic realm=\"x\" | Basic realm=\"y\"", False, "")),
    (BASIC, USERS, v.WRONG_REFUSED, answer(401, ["Basic realm=\"ollama-gate\""]), (BASIC_401, BASIC_401, True, "")),
    (BEARER, KEYS, v.RETIRED_REFUSED, answer(401, ["Bearer realm=\"lab gate\", error=\"invalid_token\""]),
     (BEARER_WRONG, BEARER_WRONG, True, "")),
    (BEARER, KEYS, v.NONE_REFUSED, answer(401, ["Bearer realm=\"lab gate\""]),
     ("401 with WWW-Authenticate: Bearer realm=\"lab gate\"", "401 with WWW-Authenticate: Bearer realm=\"lab gate\"",
      True, "")),
    (BASIC, USERS, v.ADMIN_FORBIDDEN, answer(403), ("403", "403", True, "")),
    (BASIC, USERS, v.ADMIN_FORBIDDEN, answer(200), ("403", "200", False, "")),
    (BASIC, USERS, v.GENERATE_TEXT, answer(200, response="Ready."), ("200", "200", True, "6 characters of text from gemma3:1b")),
    (BASIC, USERS, v.GENERATE_TEXT, answer(200, response=" \n"), ("200 with generated text", "200 without generated text", False, "")),
    (BASIC, USERS, v.GENERATE_TEXT, answer(200), ("200 with generated text", "200 without generated text", False, "")),
    (BASIC, USERS, v.GENERATE_TEXT, answer(503), ("200", "503", False, "")),
]


@pytest.mark.parametrize("settings,creds,check,ans,want", JUDGED, ids=[f"{c}-{i}" for i, (_, _, c, _, _) in enumerate(JUDGED)])
def test_every_judgement_in_full(settings, creds, check, ans, want):
    p = probe(settings, creds, check)
    got = judged(settings, p, ans)
    assert got == v.Check("gpu-1", check, p.credential, p.method, p.path, *want)


def test_judge_all_pairs_probes_and_answers_in_order():
    probes = v.plan(BASIC, USERS, wrong_value="w" * 24)
    answers = [answer(200, models=["gemma3:1b", "qwen2.5"])] * 2 + [answer(401, ["Basic realm=\"ollama-gate\""])] * 2 \
        + [answer(403), answer(200, response="ok")]
    result = v.judge_all("gpu-1", BASIC, probes, answers)
    assert [(c.host, c.check, c.credential, c.ok) for c in result] == [
        ("gpu-1", p.check, p.credential, True) for p in probes]


def test_host_report_in_full():
    ok = v.Check("h", v.ACCEPTED, "alice", "GET", "/api/tags", "200", "200", True, "models: gemma3:1b")
    bad = v.Check("h", v.NONE_REFUSED, "(none)", "GET", "/api/tags", "401", "200", False)
    assert v.host_report("h", BEARER, [ok, bad, bad], ["Base URL: x"], {"wanted": ["ci"]}, "gpu1.example.net") == {
        "ok": False, "auth_mode": "bearer", "base_url": "http://gpu1.example.net:8880",
        "verified_at": "http://127.0.0.1:8880", "model": "gemma3:1b",
        "summary": ["Base URL: x"], "failed": 2, "credentials": {"wanted": ["ci"]},
        "checks": [
            {"host": "h", "check": v.ACCEPTED, "credential": "alice", "method": "GET", "path": "/api/tags",
             "expected": "200", "actual": "200", "ok": True, "detail": "models: gemma3:1b"},
            {"host": "h", "check": v.NONE_REFUSED, "credential": "(none)", "method": "GET", "path": "/api/tags",
             "expected": "401", "actual": "200", "ok": False, "detail": ""},
            {"host": "h", "check": v.NONE_REFUSED, "credential": "(none)", "method": "GET", "path": "/api/tags",
             "expected": "401", "actual": "200", "ok": False, "detail": ""},
        ]}
    empty = v.host_report("h", Settings(models=(), proxy_tls="self-signed"), [ok], [])
    assert (empty["ok"], empty["model"], empty["failed"], empty["base_url"], empty["verified_at"]) == \
        (True, None, 0, "https://h:8880", "https://127.0.0.1:8880")


def test_message_of_a_failed_check():
    bad = v.Check("gpu-1", v.WRONG_REFUSED, "alice (random password)", "GET", "/api/tags", BASIC_401, "200", False,
                  "why")
    assert bad.message() == ("gpu-1: check wrong-credential-refused failed for credential alice (random password) "
                             f"(GET /api/tags): expected {BASIC_401}, got 200 (why)")


def test_summary_in_full():
    assert v.summary("h", "gpu1.example.net", BASIC, USERS) == [
        "Base URL:        http://gpu1.example.net:8880",
        "Authentication:  Basic (username and password of one of: alice, bob; passwords under 'users:' in the secrets file)",
        "Model ID:        gemma3:1b",
    ]
    assert v.summary("h", "fd00::7", Settings(auth_mode="bearer", models=()), {}) == [
        "Base URL:        http://[fd00::7]:8880",
        "Authentication:  Token (the Bearer key of one of: none; keys under 'keys:' in the secrets file)",
        "Model ID:        (no model configured)",
    ]
    public = Settings(proxy_public_url="https://llm.example.com/", proxy_bind="::")
    assert v.summary("h", "10.0.0.1", public, USERS)[0] == "Base URL:        https://llm.example.com"
    assert v.summary("h", "10.0.0.1", Settings(proxy_bind="::"), USERS)[0] == "Base URL:        http://10.0.0.1:8880"


def test_run_report_in_full():
    a = {"ok": True}
    b = {"ok": False}
    assert v.run_report(["b", "a", "c"], {"b": b, "a": a}) == {
        "version": 1, "ok": False, "not_verified": ["c"], "hosts": {"a": a, "b": b}}
    assert v.run_report(["a"], {"a": a}) == {"version": 1, "ok": True, "not_verified": [], "hosts": {"a": a}}


def test_an_existing_report_is_checked_without_changing_it(tmp_path, monkeypatch):
    monkeypatch.delenv("OLLAMA_GATE_REPORT", raising=False)
    report = tmp_path / "gate.json"
    report.write_text('{"old": true}')
    assert v.report_path_error(Settings(verify_report=str(report))) is None
    assert report.read_text() == '{"old": true}'
    assert v.report_path_error(Settings(verify_report=str(tmp_path))) == \
        f"verify_report: {str(tmp_path)!r} is a directory; give the path of a .json file"
    (tmp_path / "file").write_text("")
    assert v.report_path_error(Settings(verify_report=str(tmp_path / "file" / "r.json"))) == \
        f"verify_report: cannot write the report to {str(tmp_path / 'file' / 'r.json')!r}: " \
        f"{str(tmp_path / 'file')!r} is not a directory"
    monkeypatch.setenv("OLLAMA_GATE_REPORT", str(tmp_path))
    assert v.report_path_error(Settings()).startswith("OLLAMA_GATE_REPORT: ")
