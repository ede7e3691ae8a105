"""The deploy's check adds the installation key to a secrets file that ends its YAML document
("---" or "..."): it must refuse with an error naming the file, never crash with YAML's own
error text (which quotes the line it stopped at: a password), and leave the file as it was."""

import pytest

from ollama_gate.config import check_hosts
from ollama_gate.settings import ConfigError

PASSWORD = "Xq7vLp2Rk9tZw4Nc8HjB3sDf6G"


@pytest.mark.parametrize("text, says", [
    (f"users: {{alice: {PASSWORD}}}\n---\n", "is not valid YAML at line "),
    (f"users:\n  alice: {PASSWORD}\n...\n", "could not add installation_key to "),
])
def test_a_file_that_ends_its_document_is_refused_without_quoting_it(tmp_path, text, says):
    path = tmp_path / "secrets.yml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        check_hosts([("h1", {})], tmp_path, path)
    message = str(err.value)
    assert says in message and repr(str(path)) in message
    assert not any(PASSWORD[i:i + 8] in message for i in range(len(PASSWORD) - 7))
    assert path.read_text() == text
