"""Pure logic of the verification: which probes, how answers are judged, what is reported."""

import base64
import json
from dataclasses import replace

import pytest

from ollama_gate import checks as v
from ollama_gate.facts.http import SecretStdin, curl_config
from ollama_gate.operations.endpoint import report_path_for
from ollama_gate.secrets_file import Secret
from ollama_gate.settings import Settings

BASIC = Settings(auth_mode="basic", models=("gemma3:1b",))
BEARER = Settings(auth_mode="bearer", models=("gemma3:1b",), auth_realm="lab gate")
USERS = {"alice": Secret("alice", "alice-password-0123456789"), "bob": Secret("bob", "bob-password-0123456789ab")}
KEYS = {"ci": Secret("ci", "og_" + "k" * 40)}


def answer(status, www=(), models=None, response=None, curl_exit=0):
    return {"status": status, "www_authenticate": list(www), "content_type": None, "models": models,
            "response": response, "body": "", "curl_exit": curl_exit}


def by_check(probes):
    out = {}
    for p in probes:
        out.setdefault(p.check, []).append(p)
    return out


# --- Plan ------------------------------------------------------------------------------

def test_basic_plan_covers_every_check_and_each_user():
    probes = by_check(v.plan(BASIC, USERS, wrong_value="random-wrong"))
    assert [p.credential for p in probes[v.ACCEPTED]] == ["alice", "bob"]
    assert all((p.method, p.path, p.expected) == ("GET", "/api/tags", 200) for p in probes[v.ACCEPTED])
    alice = probes[v.ACCEPTED][0].auth.reveal()
    assert alice == "Basic " + base64.b64encode(b"alice:alice-password-0123456789").decode()
    wrong = probes[v.WRONG_REFUSED][0]
    assert wrong.auth.reveal() == "Basic " + base64.b64encode(b"alice:random-wrong").decode()
    assert probes[v.NONE_REFUSED][0].auth is None
    admin = probes[v.ADMIN_FORBIDDEN][0]
    assert (admin.method, admin.path, admin.expected, admin.body) == ("POST", "/api/pull", 403, "{}")
    gen = probes[v.GENERATE_TEXT][0]
    assert json.loads(gen.body)["model"] == "gemma3:1b" and json.loads(gen.body)["stream"] is False
    assert v.RETIRED_REFUSED not in probes


def test_generate_is_optional():
    probes = by_check(v.plan(Settings(auth_mode="basic", verify_generate=False), USERS))
    assert v.GENERATE_TEXT not in probes


def test_bearer_plan_uses_bearer_headers_and_a_random_key():
    probes = by_check(v.plan(BEARER, KEYS))
    assert probes[v.ACCEPTED][0].auth.reveal() == "Bearer " + KEYS["ci"].reveal()
    wrong = probes[v.WRONG_REFUSED][0].auth.reveal()
    assert wrong.startswith("Bearer og_") and wrong != "Bearer " + KEYS["ci"].reveal()
    # A fresh random value per run.
    assert wrong != by_check(v.plan(BEARER, KEYS))[v.WRONG_REFUSED][0].auth.reveal()


def test_retired_values_are_probed_unless_still_current():
    retired = [
        Secret("alice", "old-alice-password-0123"),         # rotated: must be refused
        Secret("carol", "carol-password-0123456789"),       # removed: must be refused
        Secret("bob", "bob-password-0123456789ab"),         # rotated back: still current, skipped
        Secret("carol", "carol-password-0123456789"),       # duplicate: probed once
    ]
    probes = by_check(v.plan(BASIC, USERS, retired))[v.RETIRED_REFUSED]
    assert [p.credential for p in probes] == ["alice (retired value 1)", "carol (retired value 2)"]
    assert all(p.expected == 401 for p in probes)


def test_bearer_skips_retired_values_equal_to_a_current_key_or_not_a_token():
    retired = [Secret("old", KEYS["ci"].reveal()), Secret("x", "has space in it"), Secret("y", "og_" + "y" * 40)]
    probes = by_check(v.plan(BEARER, KEYS, retired))[v.RETIRED_REFUSED]
    assert [p.credential for p in probes] == ["y (retired value 1)"]


def test_no_value_is_printable_from_a_probe_or_the_stdin_buffer():
    retired = [Secret("alice", "old-alice-password-0123")]
    for probe in v.plan(BASIC, USERS, retired, wrong_value="random-wrong"):
        text = repr(probe) + str(probe)
        for value in ("alice-password-0123456789", "bob-password-0123456789ab", "old-alice-password-0123",
                      "random-wrong"):
            assert value not in text
            assert base64.b64encode(f"alice:{value}".encode()).decode() not in text


def test_the_stdin_buffer_shows_no_value_in_any_way_pyinfra_prints_it():
    """pyinfra prints fact arguments with str() (get_kwargs_str), reprs in --debug, and dumps
    operations and facts as JSON with pyinfra_cli's json_encode, which reads any in-memory
    file it meets ("In memory file: <content>"). A plain StringIO leaks there."""
    from io import StringIO

    from pyinfra.api.util import get_kwargs_str
    from pyinfra_cli.util import json_encode

    def shown(buffer) -> str:
        return "\n".join([repr(buffer), str(buffer), f"{buffer}", f"{buffer!r}", repr([buffer]),
                          get_kwargs_str({"_stdin": buffer}), json_encode(buffer)])

    assert "sekrit" in shown(StringIO('header = "Authorization: Bearer sekrit-token"\n'))  # the check can fail
    stdin = curl_config("Bearer sekrit-token")
    assert "sekrit" not in shown(stdin)
    # Showing it did not consume it: curl still gets the whole header.
    assert stdin.read() == 'header = "Authorization: Bearer sekrit-token"\n'


def test_curl_config_escapes_quotes_and_refuses_line_breaks():
    assert curl_config('Basic a"b\\c').getvalue() == 'header = "Authorization: Basic a\\"b\\\\c"\n'
    assert curl_config(None).getvalue() == ""
    assert isinstance(curl_config(None), SecretStdin)
    with pytest.raises(ValueError):
        curl_config("Bearer a\nurl = http://elsewhere")


@pytest.mark.parametrize(("settings", "url"), [
    (Settings(), "http://127.0.0.1:8880"),
    (Settings(proxy_bind="10.1.2.3", proxy_port=9000), "http://10.1.2.3:9000"),
    (Settings(proxy_bind="::", proxy_tls="self-signed", proxy_port=443), "https://[::1]:443"),
    (Settings(proxy_bind="fd00::5"), "http://[fd00::5]:8880"),
])
def test_base_url_on_the_host(settings, url):
    assert v.base_url(settings) == url


# --- Judging ---------------------------------------------------------------------------

def probe(settings, check, creds=USERS):
    return by_check(v.plan(settings, creds, [Secret("old", "og_" + "o" * 40)]))[check][0]


def test_accepted_needs_200_and_every_model_listed():
    p = probe(BASIC, v.ACCEPTED)
    assert v.judge("h", BASIC, p, answer(200, models=["gemma3:1b", "x:latest"])).ok
    settings = Settings(models=("library/gemma3:1b", "qwen2.5", "registry.ollama.ai/library/llama3.2:1b"))
    listed = ["gemma3:1b", "qwen2.5:latest", "llama3.2:1b"]
    assert v.judge("h", settings, p, answer(200, models=listed)).ok
    missing = v.judge("h", BASIC, p, answer(200, models=["qwen2.5:latest"]))
    assert not missing.ok and missing.expected == "200 listing gemma3:1b"
    assert not v.judge("h", BASIC, p, answer(200, models=None)).ok
    refused = v.judge("h", BASIC, p, answer(401, ['Basic realm="ollama-gate"']))
    assert (refused.ok, refused.expected, refused.actual) == (False, "200", "401")


def test_refusals_need_401_and_the_right_challenge():
    wrong = probe(BASIC, v.WRONG_REFUSED)
    assert v.judge("h", BASIC, wrong, answer(401, ['Basic realm="ollama-gate"'])).ok
    bad = v.judge("h", BASIC, wrong, answer(401, ['Basic realm="other"']))
    assert not bad.ok and 'Basic realm="other"' in bad.actual
    assert not v.judge("h", BASIC, wrong, answer(200, models=[])).ok
    # Only a failed authentication reaches the rate limit: 429 is a refusal as well.
    limited = v.judge("h", BASIC, wrong, answer(429))
    assert limited.ok and "rate limit" in limited.detail

    none = probe(BEARER, v.NONE_REFUSED, KEYS)
    assert v.judge("h", BEARER, none, answer(401, ['Bearer realm="lab gate"'])).ok
    assert not v.judge("h", BEARER, none, answer(401, ['Bearer realm="lab gate", error="invalid_token"'])).ok
    for check in (v.WRONG_REFUSED, v.RETIRED_REFUSED):
        p = probe(BEARER, check, KEYS)
        assert v.judge("h", BEARER, p, answer(401, ['Bearer realm="lab gate", error="invalid_token"'])).ok
        assert not v.judge("h", BEARER, p, answer(200, models=["gemma3:1b"])).ok


def test_admin_and_generate():
    admin = probe(BASIC, v.ADMIN_FORBIDDEN)
    assert v.judge("h", BASIC, admin, answer(403)).ok
    assert not v.judge("h", BASIC, admin, answer(400)).ok
    gen = probe(BASIC, v.GENERATE_TEXT)
    assert v.judge("h", BASIC, gen, answer(200, response="Ready.")).ok
    assert not v.judge("h", BASIC, gen, answer(200, response="  ")).ok
    assert not v.judge("h", BASIC, gen, answer(404)).ok


def test_failure_message_names_host_check_credential_and_statuses_only():
    p = probe(BASIC, v.ACCEPTED)
    check = v.judge("lab-1", BASIC, p, answer(0, curl_exit=7))
    assert check.message() == ("lab-1: check credential-accepted failed for credential alice "
                               "(GET /api/tags): expected 200, got no answer (curl exit 7)")
    assert not v.judge("lab-1", BASIC, p, None).ok
    assert "alice-password" not in check.message()


# --- Summary and report ----------------------------------------------------------------

def test_summary_is_what_thingsboard_asks_for_with_names_only():
    lines = v.summary("h", "gpu1.example.net", BASIC, USERS)
    assert lines[0] == "Base URL:        http://gpu1.example.net:8880"
    assert lines[1].startswith("Authentication:  Basic") and "alice, bob" in lines[1]
    assert lines[2] == "Model ID:        gemma3:1b"
    assert not any("password-0123" in line for line in lines)
    bearer = v.summary("h", "10.0.0.7", Settings(auth_mode="bearer", proxy_tls="self-signed", proxy_port=443), KEYS)
    assert bearer[0] == "Base URL:        https://10.0.0.7:443" and bearer[1].startswith("Authentication:  Token")
    assert v.summary("h", "x", Settings(proxy_bind="192.168.1.9"), USERS)[0] == "Base URL:        http://192.168.1.9:8880"


def test_report_is_ok_only_when_every_host_passed():
    ok = v.Check("a", v.ACCEPTED, "alice", "GET", "/api/tags", "200", "200", True)
    bad = v.Check("b", v.NONE_REFUSED, "(none)", "GET", "/api/tags", "401", "200", False)
    a = v.host_report("a", BASIC, [ok], ["Base URL: x"])
    b = v.host_report("b", BASIC, [ok, bad], [])
    assert a["ok"] and not b["ok"] and b["failed"] == 1
    # Both URLs, labelled: what clients use, and where the host's own checks reached the proxy.
    public = v.host_report("a", replace(BASIC, proxy_public_url="https://llm.example.com"), [ok], [], address="10.0.0.5")
    assert (public["base_url"], public["verified_at"]) == ("https://llm.example.com", "http://127.0.0.1:8880")
    assert v.host_report("a", BASIC, [ok], [], address="10.0.0.5")["base_url"] == "http://10.0.0.5:8880"
    assert b["checks"][1] == {"host": "b", "check": v.NONE_REFUSED, "credential": "(none)", "method": "GET",
                              "path": "/api/tags", "expected": "401", "actual": "200", "ok": False, "detail": ""}
    assert v.run_report(["a"], {"a": a})["ok"]
    assert not v.run_report(["a", "b"], {"a": a, "b": b})["ok"]
    missing = v.run_report(["a", "c"], {"a": a})
    assert not missing["ok"] and missing["not_verified"] == ["c"]
    json.dumps(missing)


def test_report_path_argument_then_environment_then_setting(monkeypatch, tmp_path):
    monkeypatch.delenv("OLLAMA_GATE_REPORT", raising=False)
    assert report_path_for(Settings()) is None
    assert report_path_for(Settings(verify_report=str(tmp_path / "s.json"))) == tmp_path / "s.json"
    monkeypatch.setenv("OLLAMA_GATE_REPORT", str(tmp_path / "e.json"))
    assert report_path_for(Settings(verify_report="s.json")) == tmp_path / "e.json"
    assert report_path_for(Settings(), str(tmp_path / "a.json")) == tmp_path / "a.json"


def test_curl_batch_config_puts_every_request_on_stdin_separated_by_next():
    from ollama_gate.facts.http import BATCH_MARK, curl_batch_config
    stdin = curl_batch_config([
        ("GET", "http://127.0.0.1:8880/api/tags", None, 30, False, "Basic c2Vrcml0"),
        ("POST", "https://127.0.0.1:8880/api/pull", '{"a": "b"}', 5, True, None),
    ])
    text = stdin.getvalue()
    assert repr(stdin) == str(stdin) == "<hidden curl config>"
    blocks = text.split("next\n")
    assert len(blocks) == 2
    assert 'header = "Authorization: Basic c2Vrcml0"' in blocks[0]
    assert f'{BATCH_MARK} 0 %{{http_code}} %{{exitcode}}' in blocks[0]
    assert 'url = "http://127.0.0.1:8880/api/tags"' in blocks[0] and "max-time = 30" in blocks[0]
    assert "Authorization" not in blocks[1]
    assert 'data-binary = "{\\"a\\": \\"b\\"}"' in blocks[1] and "insecure" in blocks[1]
    assert 'request = "POST"' in blocks[1] and f"{BATCH_MARK} 1 " in blocks[1]
    with pytest.raises(ValueError):
        curl_batch_config([("GET", "http://x/", None, 1, False, "Bearer a\nurl = http://elsewhere")])
