"""The gateway's proxy config on a real nginx, in front of several recording backends.

Each backend is a RecordingUpstream on 127.0.0.1 (a stand-in for an ollama-gate endpoint);
one pool member can be a port where nothing listens. Balancing, failover and the service
credential are asserted on what each backend received.
"""

from __future__ import annotations

import http.client
import threading
import time

import pytest

from ollama_gate.credentials import HASHERS, key_digest
from ollama_gate.gateway import Backend, Pool, service_auth_conf
from ollama_gate.secrets_file import Secret
from tests.integration import harness
from tests.integration.harness import basic_header, free_port, request, settings_for

PASSWORD = "correct-horse-battery-staple-0001"
HTPASSWD = f"alice:{HASHERS['ssha'].hash(PASSWORD)}\n"
ALICE = {"Authorization": basic_header("alice", PASSWORD)}
SERVICE = "Bearer og_gateway_service_key_0123456789abcdef"
GENERATE = b'{"model": "gemma3:1b", "prompt": "hi", "stream": false}'


@pytest.fixture(scope="module")
def backends():
    servers = [harness.RecordingUpstream().start() for _ in range(3)]
    yield servers
    for server in servers:
        server.stop()


@pytest.fixture(autouse=True)
def healthy(backends):
    for server in backends:
        server.behavior = "ok"
        server.answer_delay = 0.0
    yield


@pytest.fixture(scope="module")
def start_gateway(start_gate):
    def start(members, *, mode="basic", credentials=HTPASSWD, fail_limit=1000, **pool_args):
        pool = Pool(backends=tuple(Backend(name, f"127.0.0.1:{port}", weight) for name, port, weight in members),
                    **pool_args)
        return start_gate(settings_for(mode, auth_fail_limit=fail_limit), label="gateway", credentials=credentials,
                          pool=pool, service_auth=service_auth_conf(Secret("gateway-service", SERVICE)))

    return start


def counts(servers):
    return [s.count() for s in servers]


def generate(port, path="/api/generate"):
    return request(port, "POST", path, headers=ALICE, body=GENERATE)


def test_backends_get_the_service_credential_never_the_clients(start_gateway, backends):
    a = backends[0]
    gate = start_gateway([("b1", a.port, 1)])
    status, _, _ = request(gate.port, headers={**ALICE, "Proxy-Authorization": "Basic eDp5"})
    assert status == 200
    seen = a.last()
    assert seen["header_names"].count("authorization") == 1
    assert seen["headers"]["authorization"] == SERVICE
    assert "proxy-authorization" not in seen["headers"]
    assert PASSWORD not in repr(seen)
    before = counts(backends)
    assert request(gate.port)[0] == 401
    assert request(gate.port, headers={"Authorization": basic_header("alice", "wrong-" + PASSWORD)})[0] == 401
    assert counts(backends) == before


def test_weights_share_sequential_requests(start_gateway, backends):
    a, b = backends[:2]
    gate = start_gateway([("b1", a.port, 3), ("b2", b.port, 1)])
    before = counts([a, b])
    for _ in range(40):
        assert request(gate.port, headers=ALICE)[0] == 200
    # One request at a time: every backend is idle, so least_conn falls back to weighted
    # round robin, exactly 3:1.
    assert [n - m for n, m in zip(counts([a, b]), before)] == [30, 10]


def test_upstream_connections_are_kept_alive(start_gateway, backends):
    a = backends[0]
    gate = start_gateway([("b1", a.port, 1)])
    first = a.count()
    for _ in range(10):
        assert request(gate.port, headers=ALICE)[0] == 200
    ports = {r["client_port"] for r in a.requests[first:]}
    assert len(ports) == 1, ports


def test_least_conn_sends_new_requests_to_the_idle_backend(start_gateway, backends):
    a, b = backends[:2]
    gate = start_gateway([("b1", a.port, 1), ("b2", b.port, 1)])
    before = counts([a, b])
    # A long streamed answer keeps one backend busy...
    done = threading.Event()

    def long_stream():
        try:
            harness.stream_arrivals(gate.port, "/api/generate?stream=6", ALICE, 6)
        finally:
            done.set()

    thread = threading.Thread(target=long_stream, daemon=True)
    thread.start()
    deadline = time.monotonic() + 3
    while sum(counts([a, b])) == sum(before) and time.monotonic() < deadline:
        time.sleep(0.02)
    busy = 0 if a.count() > before[0] else 1
    # ...so every short request meanwhile goes to the other one.
    mid = counts([a, b])
    for _ in range(6):
        assert generate(gate.port)[0] == 200
    assert not done.is_set(), "the stream ended too early for this test to mean anything"
    after = counts([a, b])
    assert after[busy] == mid[busy]
    assert after[1 - busy] == mid[1 - busy] + 6
    thread.join(10)


def test_refused_backend_post_goes_to_the_next_and_the_backend_is_skipped(start_gateway, backends):
    a = backends[0]
    dead = free_port()  # nothing listens: connection refused before anything is sent
    gate = start_gateway([("down", dead, 1), ("b1", a.port, 1)], max_fails=1, fail_timeout=30)
    before = a.count()
    statuses = [generate(gate.port)[0] for _ in range(6)]
    assert statuses == [200] * 6
    assert a.count() - before == 6
    # Passive health check: after its first failure the refused backend is left alone for
    # fail_timeout, so it was tried once, not for every request.
    assert gate.error_log().count("Connection refused") == 1


@pytest.mark.parametrize("behavior", ["reset", "failed"])
def test_a_request_a_backend_received_is_never_sent_again(start_gateway, backends, behavior):
    a, r = backends[0], backends[1]
    # reset: receives the request, then drops the connection without answering.
    # failed: answers 502 (its Ollama failed while handling it).
    r.behavior = behavior
    # max_fails high: the failing backend stays in rotation, so both outcomes are seen.
    gate = start_gateway([("b1", a.port, 1), ("dies", r.port, 1)], max_fails=100, fail_timeout=1)
    for method, path, body in (("POST", "/api/generate", GENERATE), ("GET", "/api/tags", None)):
        before_a, before_r = a.count(), r.count()
        statuses = [request(gate.port, method, path, headers=ALICE, body=body)[0] for _ in range(6)]
        got_a, got_r = a.count() - before_a, r.count() - before_r
        # Every request reached exactly one backend: those the failing one received were
        # answered 502 and never sent again (it may have started generating).
        assert got_a + got_r == 6, (method, got_a, got_r)
        assert got_r >= 1
        assert statuses.count(502) == got_r and statuses.count(200) == got_a, (method, statuses)


def test_a_stream_already_answering_is_never_retried(start_gateway, backends):
    a, d = backends[0], backends[1]
    d.behavior = "die-streaming"
    d.stream_delay = a.stream_delay = 0.05
    gate = start_gateway([("b1", a.port, 1), ("dies", d.port, 1)], max_fails=100, fail_timeout=1)
    seen = 0
    for _ in range(4):
        before_a, before_d = a.count(), d.count()
        conn = http.client.HTTPConnection("127.0.0.1", gate.port, timeout=10)
        conn.request("GET", "/api/tags?stream=5", headers=ALICE)
        response = conn.getresponse()
        assert response.status == 200
        try:
            body = response.read()
        except http.client.IncompleteRead as err:
            body = err.partial
        conn.close()
        if d.count() > before_d:
            seen += 1
            # Two chunks arrived, then the backend died: the client sees the cut, and the
            # request (even a GET) was not sent to the other backend.
            assert body.count(b'"chunk"') == 2
            assert a.count() == before_a
        else:
            assert body.count(b'"chunk"') == 5
    assert seen >= 1
    d.stream_delay = a.stream_delay = harness.RecordingUpstream.stream_delay


def test_backend_answering_503_gets_no_post_and_is_skipped(start_gateway, backends):
    a, u = backends[0], backends[1]
    u.behavior = "unavailable"  # an ollama-gate backend whose Ollama is down
    gate = start_gateway([("b1", a.port, 1), ("no-ollama", u.port, 1)], max_fails=1, fail_timeout=30)
    before_a, before_u = a.count(), u.count()
    statuses = [generate(gate.port)[0] for _ in range(8)]
    # Its 503 means the request never reached its Ollama, so even a POST goes on to the next.
    assert statuses == [200] * 8
    assert a.count() - before_a == 8
    # And it is soon taken out: at most two attempts (the one answered 503, and the one that
    # counts as its failure) while 8 requests passed.
    assert u.count() - before_u <= 2


def test_gateway_refusing_closed_does_not_reach_the_backends(start_gateway, backends):
    # A bearer gateway without its keys file answers 503 itself (fails closed): that 503 is
    # the gateway's, not a backend's, so it must not be sent on to the pool.
    gate = start_gateway([("b1", backends[0].port, 1)], mode="bearer", credentials=None)
    before = counts(backends)
    key = "og_some_key_that_is_long_enough_0123456789"
    assert request(gate.port, headers={"Authorization": f"Bearer {key}"})[0] == 503
    assert request(gate.port, "POST", "/api/generate", headers={"Authorization": f"Bearer {key}"},
                   body=GENERATE)[0] == 503
    assert counts(backends) == before
    gate.write_credentials(f"ci:{key_digest(key)}\n")
    deadline = time.monotonic() + 3
    while request(gate.port, headers={"Authorization": f"Bearer {key}"})[0] != 200:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert backends[0].last()["headers"]["authorization"] == SERVICE


def test_streamed_answers_pass_unbuffered(start_gateway, backends):
    gate = start_gateway([("b1", backends[0].port, 1), ("b2", backends[1].port, 1)])
    arrivals = harness.stream_arrivals(gate.port, "/api/generate?stream=3", ALICE, 3)
    delay = harness.RecordingUpstream.stream_delay
    # Each line arrives as the backend sends it, not all at the end.
    assert arrivals[0] < delay * 0.8
    assert arrivals[1] >= delay * 0.8


def test_a_backend_taken_out_takes_load_again_after_fail_timeout(start_gateway, backends):
    a, u = backends[0], backends[1]
    u.behavior = "unavailable"
    gate = start_gateway([("b1", a.port, 1), ("back", u.port, 1)], max_fails=1, fail_timeout=1)
    assert [generate(gate.port)[0] for _ in range(4)] == [200] * 4
    u.behavior = "ok"
    # nginx counts fail_timeout in whole seconds and waits until it has passed (">").
    time.sleep(2.1)
    before_u = u.count()
    assert [generate(gate.port)[0] for _ in range(6)] == [200] * 6
    assert u.count() - before_u >= 2


@pytest.mark.parametrize("behavior,status", [(None, 503), ("reset", 502), ("failed", 502)])
def test_a_backend_says_503_only_when_its_ollama_got_nothing(backends, behavior, status):
    # The backend side of the protocol (every ollama-gate endpoint): Ollama refused the
    # connection -> 503 (a gateway may send the request elsewhere); Ollama got the request
    # and failed -> 502, as before.
    if behavior is None:
        port = free_port()
    else:
        backends[2].behavior = behavior
        port = backends[2].port
    gate = harness.Gate(settings_for("basic", auth_fail_limit=1000), port, label="backend",
                        credentials=HTPASSWD)
    try:
        gate.start()
        assert generate(gate.port)[0] == status
        assert request(gate.port, headers=ALICE)[0] == status
    finally:
        gate.cleanup()


def test_a_backend_refusing_the_service_credential_is_a_502_not_the_clients_fault(start_gateway, backends):
    r = backends[1]
    r.behavior = "refuse"
    gate = start_gateway([("wrong-key", r.port, 1)], fail_limit=3)
    # More than the failed-login limit (3) would allow if these counted against the client.
    assert [request(gate.port, headers=ALICE)[0] for _ in range(6)] == [502] * 6
    r.behavior = "ok"
    assert request(gate.port, headers=ALICE)[0] == 200
    # The gateway's own refusals are still 401 with the challenge.
    status, headers, _ = request(gate.port)
    assert status == 401 and harness.header_values(headers, "WWW-Authenticate") == ['Basic realm="ollama-gate"']
