"""Images: where the stack's images come from (a registry, or archives for air-gapped hosts)."""

from __future__ import annotations

import re


def archive_filename(ref: str) -> str:
    """The file in images_archive_dir that holds the image ``ref`` (a `docker save` tar).

    Every character outside [A-Za-z0-9._-] becomes "_":
    "ollama/ollama:0.12.6" -> "ollama_ollama_0.12.6.tar".
    """
    return re.sub(r"[^A-Za-z0-9._-]", "_", ref) + ".tar"
