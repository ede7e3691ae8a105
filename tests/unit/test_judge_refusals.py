"""The verification judge: only 401 (or the rate limit's 429) counts as refused.

A 403 or 503 for a wrong, missing or retired credential is an endpoint that is broken
(every request refused, a keys file it cannot read) or that does not authenticate where
it should; the verification must fail it, not pass it as "refused".
"""

import base64

import pytest

from ollama_gate import checks as v
from ollama_gate.secrets_file import Secret
from ollama_gate.settings import Settings

BASIC = Settings(auth_mode="basic", models=("gemma3:1b",))
BEARER = Settings(auth_mode="bearer", models=("gemma3:1b",))
USERS = {"alice": Secret("alice", "Xq7vLp2Rk9tZw4Nc8HjB3sDf6G"), "bob": Secret("bob", "Hm4tQw9Zr2Lk7Vc5Nx8Bp3Jd6F")}
KEYS = {"ci": Secret("ci", "og_Qm7vX2pLk9RtZ4wNc8HjB3sDf6GyA1eU5oIi0")}
RETIRED_KEY = Secret("old", "og_Zt5rW8nM2xC4vB7kL9pQ3sD6fG1hJ0aE2yU4i")
RETIRED_PW = Secret("alice", "Pw8sN3kT6vR1xZ4mQ7cL2bJ5hD")
BASIC_CHALLENGE = 'Basic realm="ollama-gate"'
BEARER_CHALLENGE = 'Bearer realm="ollama-gate"'
INVALID = BEARER_CHALLENGE + ', error="invalid_token"'


def answer(status, www=()):
    return {"status": status, "www_authenticate": list(www), "content_type": None, "models": None,
            "response": None, "body": "", "curl_exit": 0 if status else 7}


def probe_of(settings, creds, retired, check):
    return next(p for p in v.plan(settings, creds, retired) if p.check == check)


REFUSALS = [(BASIC, USERS, RETIRED_PW, check) for check in (v.WRONG_REFUSED, v.NONE_REFUSED, v.RETIRED_REFUSED)] + \
           [(BEARER, KEYS, RETIRED_KEY, check) for check in (v.WRONG_REFUSED, v.NONE_REFUSED, v.RETIRED_REFUSED)]


@pytest.mark.parametrize("settings,creds,retired,check", REFUSALS,
                         ids=[f"{s.auth_mode}-{c}" for s, _, _, c in REFUSALS])
@pytest.mark.parametrize("status", [403, 503, 200, 400, 404, 500, 502, 0])
def test_anything_but_401_or_429_is_not_a_refusal(settings, creds, retired, check, status):
    p = probe_of(settings, creds, [retired], check)
    # Even with the challenge header a real refusal would carry.
    for www in ((), (BASIC_CHALLENGE,), (BEARER_CHALLENGE,), (INVALID,)):
        result = v.judge("h", settings, p, answer(status, www))
        assert not result.ok, (status, www)
        assert result.expected.startswith("401")


@pytest.mark.parametrize("settings,creds,retired,check", REFUSALS,
                         ids=[f"{s.auth_mode}-{c}" for s, _, _, c in REFUSALS])
def test_401_with_the_right_challenge_and_429_are_refusals(settings, creds, retired, check):
    p = probe_of(settings, creds, [retired], check)
    wanted = v.challenges(settings)[check]
    assert v.judge("h", settings, p, answer(401, [wanted])).ok
    assert v.judge("h", settings, p, answer(429)).ok
    assert not v.judge("h", settings, p, answer(401)).ok               # no challenge
    assert not v.judge("h", settings, p, answer(401, [wanted, wanted])).ok


def test_challenges_per_mode_and_check():
    assert v.challenges(BASIC) == {v.WRONG_REFUSED: BASIC_CHALLENGE, v.NONE_REFUSED: BASIC_CHALLENGE,
                                   v.RETIRED_REFUSED: BASIC_CHALLENGE}
    assert v.challenges(BEARER) == {v.WRONG_REFUSED: INVALID, v.NONE_REFUSED: BEARER_CHALLENGE,
                                    v.RETIRED_REFUSED: INVALID}


@pytest.mark.parametrize("status", [401, 403, 404, 500, 200, 0])
def test_admin_route_needs_exactly_403(status):
    p = probe_of(BASIC, USERS, [], v.ADMIN_FORBIDDEN)
    assert v.judge("h", BASIC, p, answer(status)).ok is (status == 403)


def test_a_retired_password_equal_to_another_users_current_one_is_probed_under_its_name():
    """bob's old password is alice's current one: bob:that-password must still get 401.

    In basic mode a credential is the pair (name, password), so the value being current for
    alice does not make it current for bob; skipping it would leave bob's old password
    unproven. (In bearer mode the key alone is the credential, so it is skipped there.)
    """
    retired = [Secret("bob", USERS["alice"].reveal())]
    probes = [p for p in v.plan(BASIC, USERS, retired) if p.check == v.RETIRED_REFUSED]
    assert [p.credential for p in probes] == ["bob (retired value 1)"]
    token = base64.b64encode(f"bob:{USERS['alice'].reveal()}".encode()).decode()
    assert probes[0].auth.reveal() == f"Basic {token}"
    assert probes[0].expected == 401
    # The same value retired under alice's own name is current: not probed.
    assert [p for p in v.plan(BASIC, USERS, [Secret("alice", USERS["alice"].reveal())])
            if p.check == v.RETIRED_REFUSED] == []
    # Bearer: a retired key equal to a current key (any name) is accepted, so not probed.
    assert [p for p in v.plan(BEARER, KEYS, [Secret("other", KEYS["ci"].reveal())])
            if p.check == v.RETIRED_REFUSED] == []
