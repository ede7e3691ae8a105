"""Facts about the credential file on the host that show no secret and no hash."""

from __future__ import annotations

import shlex

from typing_extensions import override

from pyinfra.api import FactBase


class CredentialLineDigests(FactBase[dict]):
    """
    Returns each credential line's name and the SHA-256 of the whole line, never the line
    itself: enough to say which names a rerun changes, nothing to guess passwords from (the
    hash and its salt stay on the host). Empty when the file does not exist.

    + path: the credential file

    .. code:: python

        {"alice": "9f86d081884c7d65...", "bob": "60303ae22b998861..."}
    """

    default = dict

    @override
    def command(self, path: str) -> str:
        quoted = shlex.quote(path)
        return (
            f"if [ -f {quoted} ]; then while IFS= read -r line; do case \"$line\" in '#'*|'') continue;; esac; "
            "printf '%s %s\\n' \"${line%%:*}\" \"$(printf '%s' \"$line\" | sha256sum | cut -c1-64)\"; "
            f"done < {quoted}; fi; true"
        )

    @override
    def process(self, output) -> dict:
        out = {}
        for line in output:
            name, _, digest = line.strip().rpartition(" ")
            if name and len(digest) == 64:
                out[name] = digest
        return out
