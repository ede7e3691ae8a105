"""Bearer mode against a real nginx + Lua: keys, RFC 6750 answers, rotation, fail-closed."""

from __future__ import annotations

import os
import time

import pytest

from ollama_gate.credentials import key_digest
from tests import routes
from tests.integration.harness import basic_header, header_values, request, settings_for, stream_arrivals

KEYS = {"alice-laptop": "og_Zq3xT8vN1kR5pW2mY7cA4sD9fG6hJ0lB", "ci": "og_Lp0oK9iJ8uH7yG6tF5rD4eS3wA2qZ1x"}
KEYS_FILE = "# bearer keys\n\n" + "".join(f"{name}:{key_digest(key)}\n" for name, key in KEYS.items())
ALICE = {"Authorization": "Bearer " + KEYS["alice-laptop"]}
CHALLENGE = 'Bearer realm="ollama-gate"'
INVALID_TOKEN = CHALLENGE + ', error="invalid_token"'
INVALID_REQUEST = CHALLENGE + ', error="invalid_request"'


@pytest.fixture(scope="module")
def gate(start_gate):
    settings = settings_for("bearer", auth_fail_limit=1000)
    return start_gate(settings, label="bearer", credentials=KEYS_FILE)


def wait_for_status(gate, headers, expected: int, seconds: float = 2.0) -> float:
    """Seconds until a request gets ``expected`` (bounded); fails after ``seconds``."""
    start = time.monotonic()
    while True:
        status = request(gate.port, headers=headers)[0]
        elapsed = time.monotonic() - start
        if status == expected:
            return elapsed
        assert elapsed < seconds, f"still {status} after {elapsed:.1f}s, wanted {expected}"
        time.sleep(0.05)


ACCEPTED = [
    ("canonical", "Bearer " + KEYS["alice-laptop"], "alice-laptop"),
    ("lowercase scheme", "bearer " + KEYS["ci"], "ci"),
    ("uppercase scheme, two spaces", "BEARER  " + KEYS["ci"], "ci"),
    ("trailing space", "Bearer " + KEYS["ci"] + " ", "ci"),
]


@pytest.mark.parametrize("case,authorization,name", ACCEPTED, ids=[c for c, _, _ in ACCEPTED])
def test_valid_keys_pass_without_their_header(gate, upstream, case, authorization, name):
    agent = f"test-accepted-{case}"
    status, _, _ = request(gate.port, headers={"Authorization": authorization, "User-Agent": agent})
    assert status == 200
    seen = upstream.last()
    assert "authorization" not in seen["header_names"]
    assert seen["headers"]["host"] == "localhost:11434"
    assert f" {name} [" in gate.log_line(agent)


REFUSED = [
    ("missing", None, 401, CHALLENGE),
    ("wrong key", "Bearer og_wrongwrongwrongwrongwrongwrong", 401, INVALID_TOKEN),
    ("key with suffix", "Bearer " + KEYS["ci"] + "x", 401, INVALID_TOKEN),
    ("key prefix", "Bearer " + KEYS["ci"][:-1], 401, INVALID_TOKEN),
    ("the stored digest", "Bearer " + key_digest(KEYS["ci"]), 401, INVALID_TOKEN),
    ("name:digest line", "Bearer ci:" + key_digest(KEYS["ci"]), 400, INVALID_REQUEST),
    # nginx trims trailing spaces, so this arrives as the bare scheme.
    ("empty token", "Bearer ", 401, CHALLENGE),
    ("two tokens", "Bearer a b", 400, INVALID_REQUEST),
    ("illegal characters", "Bearer key\"with'quotes", 400, INVALID_REQUEST),
    ("too long", "Bearer " + "a" * 2000, 400, INVALID_REQUEST),
    ("scheme only", "Bearer", 401, CHALLENGE),
    ("tab separator", "Bearer\t" + KEYS["ci"], 401, CHALLENGE),
    ("basic scheme with the key", basic_header("ci", KEYS["ci"]), 401, CHALLENGE),
    ("bare key", KEYS["ci"], 401, CHALLENGE),
    ("token scheme", "Token " + KEYS["ci"], 401, CHALLENGE),
]


@pytest.mark.parametrize("case,authorization,status,challenge", REFUSED, ids=[c for c, *_ in REFUSED])
def test_refused_keys_get_rfc6750_answers_and_never_reach_ollama(gate, upstream, case, authorization, status, challenge):
    before = upstream.count()
    headers = {"Authorization": authorization} if authorization is not None else {}
    got, response_headers, _ = request(gate.port, headers=headers)
    assert got == status
    assert header_values(response_headers, "WWW-Authenticate") == [challenge]
    assert upstream.count() == before


@pytest.mark.parametrize("route", routes.ALLOWED + routes.ALLOWED_WITH_MODEL)
def test_every_allowed_route_checks_the_key(gate, upstream, route):
    assert request(gate.port, "POST", route, body=b"{}")[0] == 401
    assert request(gate.port, "POST", route, headers={"Authorization": "Bearer nope"}, body=b"{}")[0] == 401
    assert request(gate.port, "POST", route, headers=ALICE, body=b"{}")[0] == 200
    assert upstream.last()["path"] == route


@pytest.mark.parametrize("route", [r.removeprefix("/api/") for r in routes.ADMIN])
def test_admin_routes_are_forbidden_even_with_a_valid_key(gate, upstream, route):
    before = upstream.count()
    for method in ("GET", "POST", "DELETE"):
        for path in (f"/api/{route}", f"/API/{route.upper()}/", f"//api/./{route}"):
            assert request(gate.port, method, path, headers=ALICE)[0] == 403
    assert upstream.count() == before


def test_unknown_routes_are_404(gate, upstream):
    before = upstream.count()
    for path in ("/api/unknown", "/api/tags/", "/v1", "/v1/models/x/y", "/favicon.ico"):
        assert request(gate.port, path=path, headers=ALICE)[0] == 404
    assert upstream.count() == before


def test_streamed_response_arrives_in_chunks(gate, upstream):
    arrivals = stream_arrivals(gate.port, "/api/chat?stream=3", ALICE, lines=3)
    # Unbuffered: the first chunk arrives long before the upstream has finished.
    assert arrivals[0] < upstream.stream_delay
    assert arrivals[2] - arrivals[0] >= 2 * upstream.stream_delay * 0.9


def test_access_log_names_the_key_and_holds_no_secret(gate):
    request(gate.port, path="/api/ps", headers={**ALICE, "User-Agent": "log-valid"})
    request(gate.port, path="/api/ps", headers={"Authorization": "Bearer og_secret_guess_value_123", "User-Agent": "log-wrong"})
    assert " alice-laptop [" in gate.log_line("log-valid")
    wrong = gate.log_line("log-wrong")
    assert " - [" in wrong and " 401 " in wrong
    log = gate.access_log()
    for secret in list(KEYS.values()) + ["og_secret_guess_value_123", "Bearer", key_digest(KEYS["ci"])]:
        assert secret not in log
        assert secret not in gate.error_log()


def test_keys_rotate_within_two_seconds_without_reload(start_gate):
    gate = start_gate(settings_for("bearer", auth_fail_limit=1000), label="bearer-rotate", credentials=KEYS_FILE)
    pid = gate.process.pid
    new_key = "og_new_key_after_rotation_0123456789"
    new = {"Authorization": "Bearer " + new_key}
    ci = {"Authorization": "Bearer " + KEYS["ci"]}
    assert request(gate.port, headers=ci)[0] == 200
    assert request(gate.port, headers=new)[0] == 401
    gate.write_credentials(f"alice-laptop:{key_digest(KEYS['alice-laptop'])}\nnew:{key_digest(new_key)}\n")
    assert wait_for_status(gate, ci, 401) < 2.0
    assert wait_for_status(gate, new, 200) < 2.0
    assert request(gate.port, headers=ALICE)[0] == 200
    assert gate.process.pid == pid and gate.process.poll() is None


def test_missing_or_unreadable_keys_file_fails_closed(start_gate):
    gate = start_gate(settings_for("bearer", auth_fail_limit=1000), label="bearer-closed")
    # Started without a keys file: nothing passes, and the error log says why.
    assert request(gate.port, headers=ALICE)[0] == 503
    assert request(gate.port, headers={"Authorization": "Bearer wrong"})[0] == 503
    assert "refusing every request" in gate.error_log()
    gate.write_credentials(KEYS_FILE)
    assert wait_for_status(gate, ALICE, 200) < 2.0
    gate.credentials_path.unlink()
    assert wait_for_status(gate, ALICE, 503) < 2.0
    if os.geteuid() == 0:
        # Present but unreadable by the workers (they run as nobody).
        gate.write_credentials(KEYS_FILE)
        assert wait_for_status(gate, ALICE, 200) < 2.0
        os.chmod(gate.credentials_path, 0o600)
        assert wait_for_status(gate, ALICE, 503) < 2.0
        assert "Permission denied" in gate.error_log()


def test_malformed_lines_are_skipped_and_reported_by_number_only(start_gate):
    content = f"ci:{key_digest(KEYS['ci'])}\nplaintext-key-by-mistake\nshort:abc123\n"
    gate = start_gate(settings_for("bearer", auth_fail_limit=1000), label="bearer-lines", credentials=content)
    assert request(gate.port, headers={"Authorization": "Bearer " + KEYS["ci"]})[0] == 200
    assert request(gate.port, headers={"Authorization": "Bearer plaintext-key-by-mistake"})[0] == 401
    log = gate.error_log()
    assert "ignored malformed line(s) 2,3" in log
    assert "plaintext-key-by-mistake" not in log


def test_repeated_wrong_keys_get_429_but_valid_keys_pass(start_gate):
    gate = start_gate(settings_for("bearer", auth_fail_limit=2), label="bearer-limit", credentials=KEYS_FILE)
    wrong = {"Authorization": "Bearer og_guess"}
    assert [request(gate.port, headers=wrong)[0] for _ in range(4)] == [401, 401, 429, 429]
    assert request(gate.port, headers=ALICE)[0] == 200
    assert request(gate.port)[0] == 401


def test_model_retrieve_route_authenticates_then_passes(gate, upstream):
    """openai's models.retrieve() asks /v1/models/{model}: a valid key passes, no key is 401."""
    assert request(gate.port, path="/v1/models/gemma3:1b")[0] == 401
    assert request(gate.port, path="/v1/models/gemma3:1b",
                   headers={"Authorization": "Bearer og_not-a-key-of-this-gate-0123456789"})[0] == 401
    before = upstream.count()
    assert request(gate.port, path="/v1/models/gemma3:1b", headers=ALICE)[0] == 200
    assert upstream.count() == before + 1
    assert upstream.last()["path"] == "/v1/models/gemma3:1b"
    assert "authorization" not in {k.lower() for k in upstream.last().get("headers", {})}


def test_digest_lines_are_read_in_either_case(start_gate):
    """sha256sum writes lowercase, other tools uppercase; both name the same key."""
    upper, lower = KEYS["ci"], KEYS["alice-laptop"]
    content = f"ci:{key_digest(upper).upper()}\nalice-laptop:{key_digest(lower)}\n"
    gate = start_gate(settings_for("bearer", auth_fail_limit=1000), label="bearer-case", credentials=content)
    for key, name in ((upper, "ci"), (lower, "alice-laptop")):
        agent = f"case-{name}"
        assert request(gate.port, headers={"Authorization": "Bearer " + key, "User-Agent": agent})[0] == 200
        assert f" {name} [" in gate.log_line(agent)
    # The uppercase digest itself is no key.
    assert request(gate.port, headers={"Authorization": "Bearer " + key_digest(upper).upper()})[0] == 401
    assert "malformed" not in gate.error_log()


def test_key_expiry_is_enforced_by_the_edge_at_its_second(start_gate):
    """The key file's third field: refused from that Unix second on, with no reload and no
    rewrite of the file; the other keys, and lines without an expiry, keep working."""
    from ollama_gate.credentials import keys_content
    from ollama_gate.secrets_file import UTC, Secret
    import datetime as dt

    gate = start_gate(settings_for("bearer", auth_fail_limit=1000), label="bearer-expiry")
    expires = dt.datetime.fromtimestamp(int(time.time()) + 3, UTC)
    content = keys_content({"alice-laptop": Secret("alice-laptop", KEYS["alice-laptop"], expires),
                            "ci": Secret("ci", KEYS["ci"])})
    assert f":{int(expires.timestamp())}\n" in content
    gate.write_credentials(content)
    ci = {"Authorization": "Bearer " + KEYS["ci"]}
    wait_for_status(gate, ALICE, 200, seconds=3)
    statuses = []
    while time.time() < expires.timestamp() + 1.5:
        statuses.append((time.time() - expires.timestamp(), request(gate.port, headers=ALICE)[0]))
        time.sleep(0.05)
    before = {s for t, s in statuses if t < -0.05}
    after = {s for t, s in statuses if t >= 0.05}
    assert before == {200} and after == {401}, statuses
    status, headers, _ = request(gate.port, headers=ALICE)
    assert header_values(headers, "WWW-Authenticate") == [INVALID_TOKEN]
    assert request(gate.port, headers=ci)[0] == 200
    assert " alice-laptop [" in gate.log_line('" 401 ')
