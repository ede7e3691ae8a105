"""No secret in pyinfra's output (-vvv --debug, --diff) nor in the lab hosts' process lists.

Each run first rotates a password and a key in a copy of the lab's secrets, so the
credential files change (upload, diff) and retired values are probed (verification).
The module ends by deploying the lab's own secrets again.
"""

from __future__ import annotations

import shutil

import pytest

from .helpers import all_secret_values, cli, process_sampler, run

ALL_CREDENTIALS = ("--data", "auth_credentials=[]")


@pytest.fixture(scope="module")
def secrets(lab, tmp_path_factory):
    path = tmp_path_factory.mktemp("leaks") / "secrets.yml"
    shutil.copy(lab["secrets_file"], path)
    cli(path, "new-user", "leak-user")
    cli(path, "new-key", "leak-key")
    yield path
    restored = run()
    assert restored.returncode == 0, restored.output[-4000:]


def rotate(secrets):
    cli(secrets, "rotate", "leak-user")
    cli(secrets, "rotate", "leak-key")


def leaked(text: str, secrets) -> list[str]:
    """The secret values found in text, shown by their first characters only."""
    return [v[:4] + "..." for v in all_secret_values(secrets) if v in text]


def test_verbose_debug_output_and_process_lists_carry_no_secret(deployed, secrets):
    lab = deployed["lab"]
    rotate(secrets)
    samplers = [process_sampler(lab, i) for i in range(len(lab["hosts"]))]
    try:
        result = run("-vvv", "--debug", *ALL_CREDENTIALS, secrets=secrets)
    finally:
        seen = [line for s in samplers for line in s.stop()]
    assert result.returncode == 0, result.output[-4000:]
    assert "endpoint verified" in result.output
    # The fact arguments are printed at this verbosity: the stdin buffer shows a placeholder.
    assert "<hidden curl config>" in result.output
    assert leaked(result.output, secrets) == []
    # The sampler did watch the verification (its curl runs are in the list)...
    curls = [line for line in seen if line.startswith("curl -sS --parallel")]
    assert curls, f"no curl seen in {len(seen)} distinct process lines"
    # ...and no process on either host carried a secret in its arguments.
    assert leaked("\n".join(seen), secrets) == []
    print(f"process lists: {len(seen)} distinct lines, {len(curls)} curl command lines, no secret")


def test_diff_output_carries_no_secret(deployed, secrets):
    rotate(secrets)
    result = run("--diff", *ALL_CREDENTIALS, secrets=secrets)
    assert result.returncode == 0, result.output[-4000:]
    assert "contents not shown" in result.output
    assert "endpoint verified" in result.output
    assert leaked(result.output, secrets) == []
