"""The curl config that carries every verification request on stdin, and how its output is read."""

import pytest

from ollama_gate.facts.http import (BATCH_MARK, EXIT_MARK, STATUS_MARK, HttpProbe, HttpProbes, SecretStdin,
                                    curl_batch_config, curl_config)


def test_batch_config_in_full():
    text = curl_batch_config([
        ("GET", "http://127.0.0.1:8880/api/tags", None, 30, False, None),
        ("POST", "https://127.0.0.1:8880/api/pull", None, 5, True, 'Basic a"b\\c'),
        ("POST", "http://127.0.0.1:8880/api/generate", '{"model": "m"}', 120, False, "Bearer k"),
    ])
    assert isinstance(text, SecretStdin)
    assert text.getvalue() == (
        'url = "http://127.0.0.1:8880/api/tags"\n'
        'dump-header = "0.head"\n'
        'output = "0.body"\n'
        "max-time = 30\n"
        f'write-out = "\\n{BATCH_MARK} 0 %{{http_code}} %{{exitcode}}\\n"\n'
        "next\n"
        'url = "https://127.0.0.1:8880/api/pull"\n'
        'dump-header = "1.head"\n'
        'output = "1.body"\n'
        "max-time = 5\n"
        f'write-out = "\\n{BATCH_MARK} 1 %{{http_code}} %{{exitcode}}\\n"\n'
        "insecure\n"
        'request = "POST"\n'
        'header = "Content-Type: application/json"\n'
        'data-binary = "{}"\n'
        'header = "Authorization: Basic a\\"b\\\\c"\n'
        "next\n"
        'url = "http://127.0.0.1:8880/api/generate"\n'
        'dump-header = "2.head"\n'
        'output = "2.body"\n'
        "max-time = 120\n"
        f'write-out = "\\n{BATCH_MARK} 2 %{{http_code}} %{{exitcode}}\\n"\n'
        'request = "POST"\n'
        'header = "Content-Type: application/json"\n'
        'data-binary = "{\\"model\\": \\"m\\"}"\n'
        'header = "Authorization: Bearer k"\n'
    )


def test_any_printable_value_is_carried_as_it_is():
    # Every printable ASCII character (letters such as X too) goes through, quoted.
    value = "".join(chr(c) for c in range(32, 127))
    quoted = value.replace("\\", "\\\\").replace('"', '\\"')
    assert curl_config("Bearer " + value).getvalue() == f'header = "Authorization: Bearer {quoted}"\n'
    assert curl_config(None).getvalue() == ""


@pytest.mark.parametrize("bad", ["a\rb", "a\nb", "a\0b"])
def test_no_value_can_start_a_new_config_line(bad):
    with pytest.raises(ValueError, match="cannot hold line breaks"):
        curl_config("Bearer " + bad)
    with pytest.raises(ValueError, match="cannot hold line breaks"):
        curl_batch_config([("GET", "http://h/" + bad, None, 1, False, None)])


def test_only_get_and_post():
    with pytest.raises(ValueError, match="'PUT' is not GET or POST"):
        curl_batch_config([("PUT", "http://h/", None, 1, False, None)])
    with pytest.raises(ValueError, match="'PUT' is not GET or POST"):
        HttpProbe().command("http://h/", method="PUT")


def test_single_probe_command_line_carries_no_header():
    command = HttpProbe().command("http://127.0.0.1:8880/api/pull", method="POST", max_time=7, insecure=True)
    assert command == ("curl -sS -D - -K - --max-time 7 -w '\\n" + STATUS_MARK + " %{http_code}\\n' -k "
                       "-H 'Content-Type: application/json' --data-binary '{}' http://127.0.0.1:8880/api/pull; "
                       f'echo "{EXIT_MARK} $?"')
    batch = HttpProbes().command(["GET /api/tags", "POST /api/generate"])
    assert "curl -sS --parallel --parallel-immediate --parallel-max 16 -K - > marks;" in batch
    assert "Authorization" not in batch and "header" not in batch and "/api/" not in batch


HEAD_401 = ["HTTP/1.1 401 Unauthorized\r", 'WWW-Authenticate: Basic realm="g"\r', "Content-Type: text/html\r", "\r"]


def test_one_answer_read_with_crlf_lines():
    out = HttpProbe().process([*HEAD_401, "<html>no</html>", "", f"{STATUS_MARK} 401", f"{EXIT_MARK} 0"])
    assert out == {"status": 401, "www_authenticate": ['Basic realm="g"'], "content_type": "text/html",
                   "models": None, "response": None, "body": "<html>no</html>", "curl_exit": 0}


def test_unreadable_marks_are_no_answer():
    out = HttpProbe().process([f"{STATUS_MARK} abc", f"{EXIT_MARK} x"])
    assert out == {"status": 0, "www_authenticate": [], "content_type": None, "models": None, "response": None,
                   "body": "", "curl_exit": None}
    assert HttpProbe().process([]) == {"status": 0, "www_authenticate": [], "content_type": None, "models": None,
                                       "response": None, "body": "", "curl_exit": None}


def test_a_head_ending_at_the_status_mark_is_read_without_looping():
    out = HttpProbe().process(["HTTP/1.1 200 OK", "Content-Type: application/json", f"{STATUS_MARK} 200",
                               f"{EXIT_MARK} 0"])
    assert (out["status"], out["content_type"], out["body"]) == (200, "application/json", "")


def test_batch_answers_in_order_with_gaps_and_crlf():
    output = [*HEAD_401, "", f"{BATCH_MARK} 0 401 0\r",
              "HTTP/1.1 200 OK", "Content-Type: application/json", "", '{"models": [{"name": "gemma3:1b"}]}', "",
              f"{BATCH_MARK} 2 200 0",
              f"{BATCH_MARK} x 200 0", f"{BATCH_MARK} 3 200"]
    answers = HttpProbes().process(output)
    assert len(answers) == 3
    assert answers[0]["status"] == 401 and answers[0]["www_authenticate"] == ['Basic realm="g"']
    assert answers[1] is None
    assert answers[2]["status"] == 200 and answers[2]["models"] == ["gemma3:1b"]
    assert HttpProbes().process([]) == []
    assert HttpProbes().process([f"{BATCH_MARK} 0 000 7"]) == [
        {"status": 0, "www_authenticate": [], "content_type": None, "models": None, "response": None, "body": "",
         "curl_exit": 7}]


def test_batch_config_trusts_a_ca_file_and_dials_a_name_at_an_address():
    text = curl_batch_config([
        ("GET", "https://gpu1:8443/api/tags", None, 30, False, None, "/opt/og/proxy/backends-ca.pem",
         "gpu1:8443:10.0.0.11"),
        ("GET", "http://10.0.0.12:8880/api/tags", None, 30, False, None),
    ]).getvalue()
    first, second = text.split("next\n")
    assert first.endswith('cacert = "/opt/og/proxy/backends-ca.pem"\nresolve = "gpu1:8443:10.0.0.11"\n')
    assert "insecure" not in first
    assert "cacert" not in second and "resolve" not in second
    with pytest.raises(ValueError):
        curl_batch_config([("GET", "https://gpu1/", None, 1, False, None, "/ca.pem\nurl = http://elsewhere", "")])
