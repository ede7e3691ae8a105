"""Basic mode against a real nginx: credentials, routes, path tricks, streaming, limits, logs."""

from __future__ import annotations

import base64

import pytest

from ollama_gate.credentials import HASHERS
from tests import routes
from tests.integration.harness import basic_header, header_values, request, settings_for, stream_arrivals

PASSWORDS = {
    "alice": "correct-horse-battery-staple-0001",  # ssha, the default scheme
    "bob": "correct-horse-battery-staple-0002",  # apr1
    "carol": "correct-horse-battery-staple-0003",  # sha512_crypt
    "dave": "correct-horse-battery-staple-0004",  # bcrypt
}
SCHEMES = {"alice": "ssha", "bob": "apr1", "carol": "sha512_crypt", "dave": "bcrypt"}
HASHES = {user: HASHERS[SCHEMES[user]].hash(PASSWORDS[user]) for user in PASSWORDS}
HTPASSWD = "# test users\n" + "".join(f"{user}:{HASHES[user]}\n" for user in PASSWORDS)
CHALLENGE = 'Basic realm="ollama-gate"'
ALICE = {"Authorization": basic_header("alice", PASSWORDS["alice"])}


@pytest.fixture(scope="module")
def gate(start_gate):
    # A high failure limit: this module's table sends many wrong credentials on purpose.
    settings = settings_for("basic", auth_fail_limit=1000, proxy_max_body="64k")
    return start_gate(settings, label="basic", credentials=HTPASSWD)


@pytest.mark.parametrize("user", sorted(PASSWORDS))
def test_every_hash_scheme_nginx_reads_is_accepted(gate, upstream, user):
    assert HASHES[user].startswith({"ssha": "{SSHA}", "apr1": "$apr1$", "sha512_crypt": "$6$", "bcrypt": "$2y$"}[SCHEMES[user]])
    status, _, _ = request(gate.port, headers={"Authorization": basic_header(user, PASSWORDS[user])})
    assert status == 200
    assert upstream.last()["path"] == "/api/tags"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


REFUSED = [
    ("missing", None),
    ("wrong password", basic_header("alice", "correct-horse-battery-staple-0002")),
    ("unknown user", basic_header("mallory", PASSWORDS["alice"])),
    ("empty password", basic_header("alice", "")),
    ("password prefix", basic_header("alice", PASSWORDS["alice"][:-1])),
    ("password with suffix", basic_header("alice", PASSWORDS["alice"] + "x")),
    ("the stored hash as password", basic_header("alice", HASHES["alice"])),
    ("empty credentials", "Basic "),
    ("not base64", "Basic !!!!"),
    ("no colon", "Basic " + b64("alice")),
    ("only a colon", "Basic " + b64(":")),
    ("scheme only", "Basic"),
    ("bearer scheme", "Bearer " + PASSWORDS["alice"]),
    ("raw user:password", "alice:" + PASSWORDS["alice"]),
    ("comment line as user", basic_header("# test users", "")),
]


@pytest.mark.parametrize("case,authorization", REFUSED, ids=[case for case, _ in REFUSED])
def test_refused_credentials_get_401_with_challenge_and_never_reach_ollama(gate, upstream, case, authorization):
    before = upstream.count()
    headers = {"Authorization": authorization} if authorization is not None else {}
    status, response_headers, _ = request(gate.port, headers=headers)
    assert status in (400, 401)
    if status == 401:
        assert header_values(response_headers, "WWW-Authenticate") == [CHALLENGE]
    assert upstream.count() == before


def test_duplicate_authorization_headers_are_rejected(gate, upstream):
    before = upstream.count()
    conn_headers = [("Authorization", ALICE["Authorization"]), ("Authorization", basic_header("x", "y"))]
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", gate.port, timeout=5)
    conn.putrequest("GET", "/api/tags")
    for name, value in conn_headers:
        conn.putheader(name, value)
    conn.endheaders()
    assert conn.getresponse().status == 400
    conn.close()
    assert upstream.count() == before


@pytest.mark.parametrize("route", routes.ALLOWED_WITH_MODEL)
def test_every_model_route_needs_auth_and_then_passes_as_is(gate, upstream, route):
    assert request(gate.port, "GET", route)[0] == 401
    assert request(gate.port, "GET", route, headers=ALICE)[0] == 200
    assert upstream.last()["path"] == route


@pytest.mark.parametrize("route", routes.ALLOWED)
def test_every_allowed_route_needs_auth_and_then_passes_as_is(gate, upstream, route):
    status, _, _ = request(gate.port, "POST", route, body=b"{}")
    assert status == 401
    status, _, _ = request(gate.port, "POST", route + "?x=1", headers=ALICE, body=b"{}")
    assert status == 200
    seen = upstream.last()
    assert seen["path"] == route + "?x=1"
    assert seen["method"] == "POST"


@pytest.mark.parametrize("route", [r.removeprefix("/api/") for r in routes.ADMIN])
@pytest.mark.parametrize("method", ["GET", "POST", "DELETE", "PUT", "HEAD"])
def test_admin_routes_are_forbidden_for_everyone(gate, upstream, route, method):
    before = upstream.count()
    path = f"/api/{route}" + ("/sha256:abc" if route == "blobs" else "")
    for headers in (ALICE, {}):
        status, _, _ = request(gate.port, method, path, headers=headers)
        assert status == 403
    assert upstream.count() == before


# (path as sent, expected status, path Ollama must see when it passes)
PATHS = [
    ("//api/tags", 200, "/api/tags"),
    ("/api/./tags", 200, "/api/tags"),
    ("/api/x/../tags", 200, "/api/tags"),
    ("/api/%74ags", 200, "/api/tags"),
    ("/v1//models", 200, "/v1/models"),
    ("//api//pull", 403, None),
    ("/api/./pull", 403, None),
    ("/api/tags/../pull", 403, None),
    ("/api/tags/%2e%2e/pull", 403, None),
    ("/api/%2e/pull", 403, None),
    ("/api/%70ull", 403, None),
    ("/API/PULL", 403, None),
    ("/Api/Delete", 403, None),
    ("/api/pull/", 403, None),
    ("/api/pull?name=x", 403, None),
    ("/api/blobs", 403, None),
    ("/api/blobs/sha256:0123", 403, None),
    ("/api/create/", 403, None),
    ("http://ollama:11434/api/pull", 403, None),
    ("/API/TAGS", 404, None),
    ("/api/tags/", 404, None),
    ("/api/tags%2f", 404, None),
    ("/api/tags;x", 404, None),
    ("/api", 404, None),
    ("/api/", 404, None),
    ("/api/unknown", 404, None),
    ("/v1/models/gemma3", 200, "/v1/models/gemma3"),
    ("/v1/models/gemma3:1b", 200, "/v1/models/gemma3:1b"),
    ("/v1/models/gemma3?x=1", 200, "/v1/models/gemma3?x=1"),  # the query goes along, as on fixed routes
    ("/v1/models/%67emma3:1b", 200, "/v1/models/gemma3:1b"),
    ("/v1/models/gemma3/", 404, None),
    ("/v1/models/a/b", 404, None),
    ("/v1/models/", 404, None),
    ("/v1/models/gemma3%20x", 404, None),
    ("/v1/models/../../api/pull", 403, None),
    ("/metrics", 404, None),
    ("/index.html", 404, None),
    ("/../api/pull", 400, None),
    ("/api/pull%00", 400, None),
]


@pytest.mark.parametrize("path,expected,forwarded", PATHS, ids=[p for p, _, _ in PATHS])
def test_path_tricks_cannot_leave_the_allow_list(gate, upstream, path, expected, forwarded):
    before = upstream.count()
    status, _, _ = request(gate.port, "GET", path, headers=ALICE)
    assert status == expected
    if forwarded:
        assert upstream.last()["path"] == forwarded
    else:
        assert upstream.count() == before


def test_upstream_never_sees_credentials_and_gets_a_host_ollama_accepts(gate, upstream):
    status, _, _ = request(gate.port, headers={**ALICE, "Proxy-Authorization": "Basic c2VjcmV0"})
    assert status == 200
    seen = upstream.last()
    assert "authorization" not in seen["header_names"]
    assert "proxy-authorization" not in seen["header_names"]
    assert seen["headers"]["host"] == "localhost:11434"


def test_server_tokens_are_off(gate):
    _, headers, body = request(gate.port, path="/nope")
    assert header_values(headers, "Server") == ["nginx"]
    assert b"nginx/" not in body


def test_streamed_response_arrives_in_chunks(gate, upstream):
    arrivals = stream_arrivals(gate.port, "/api/generate?stream=3", ALICE, lines=3)
    # Unbuffered: the first chunk arrives long before the upstream has finished.
    assert arrivals[0] < upstream.stream_delay
    assert arrivals[2] - arrivals[0] >= 2 * upstream.stream_delay * 0.9


def test_request_bodies_are_bounded(gate, upstream):
    status, _, _ = request(gate.port, "POST", "/api/chat", headers=ALICE, body=b"x" * 32 * 1024)
    assert status == 200
    assert upstream.last()["body"] == b"x" * 32 * 1024
    before = upstream.count()
    status, _, _ = request(gate.port, "POST", "/api/chat", headers=ALICE, body=b"x" * 100 * 1024)
    assert status == 413
    assert upstream.count() == before


def test_upstream_connections_are_kept_alive(gate, upstream):
    before = upstream.count()
    for _ in range(10):
        assert request(gate.port, headers=ALICE)[0] == 200
    ports = {r["client_port"] for r in upstream.requests[before:]}
    assert len(upstream.requests[before:]) == 10
    assert len(ports) < 10


def test_valid_clients_at_a_brisk_rate_are_never_limited(gate):
    statuses = [request(gate.port, headers=ALICE)[0] for _ in range(40)]
    assert statuses == [200] * 40


def test_access_log_names_the_user_and_holds_no_secret(gate):
    password = "wrong-but-secret-password-9876"
    request(gate.port, headers={"Authorization": basic_header("alice", password), "User-Agent": "log-wrong"})
    request(gate.port, path="/api/version", headers={**ALICE, "User-Agent": "log-valid"})
    assert " alice [" in gate.log_line("log-valid")
    assert " 401 " in gate.log_line("log-wrong")
    log = gate.access_log()
    for secret in (password, PASSWORDS["alice"], ALICE["Authorization"].split()[1], "Basic ", "Authorization"):
        assert secret not in log
    assert "correct-horse" not in gate.error_log()


def test_repeated_wrong_credentials_get_429_but_valid_clients_pass(start_gate, upstream):
    gate = start_gate(settings_for("basic", auth_fail_limit=3), label="basic-limit", credentials=HTPASSWD)
    wrong = {"Authorization": basic_header("alice", "guess")}
    statuses = [request(gate.port, headers=wrong)[0] for _ in range(6)]
    assert statuses == [401, 401, 401, 429, 429, 429]
    # The same address with the right password, and a client asking for the challenge.
    assert request(gate.port, headers=ALICE)[0] == 200
    status, headers, _ = request(gate.port)
    assert status == 401
    assert header_values(headers, "WWW-Authenticate") == [CHALLENGE]
    assert "limiting requests" in gate.error_log()


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "PATCH"])
def test_any_method_on_an_allowed_route_needs_auth(gate, upstream, method):
    before = upstream.count()
    assert request(gate.port, method, "/api/chat")[0] == 401
    assert upstream.count() == before
    assert request(gate.port, method, "/api/chat", headers=ALICE)[0] == 200
    assert upstream.last()["method"] == method
