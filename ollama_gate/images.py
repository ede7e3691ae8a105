"""Images: where the stack's images come from (a registry, or archives for air-gapped hosts)."""

from __future__ import annotations

import os
import re


def archive_filename(ref: str) -> str:
    """The file in images_archive_dir that holds the image ``ref`` (a `docker save` tar).

    Every character outside [A-Za-z0-9._-] becomes "_":
    "ollama/ollama:0.12.6" -> "ollama_ollama_0.12.6.tar".
    """
    return re.sub(r"[^A-Za-z0-9._-]", "_", ref) + ".tar"


def normalize_ref(ref: str) -> str:
    """The reference as `docker image ls` shows it, so two spellings of one image compare equal.

    Docker Hub's prefixes go ("docker.io/library/nginx" -> "nginx") and a reference without tag
    or digest gets ":latest".
    """
    for prefix in ("docker.io/", "index.docker.io/", "registry-1.docker.io/"):
        if ref.startswith(prefix):
            ref = ref[len(prefix) :]
            if ref.startswith("library/"):
                ref = ref[len("library/") :]
            break
    last = ref.rsplit("/", 1)[-1]
    if "@" not in ref and ":" not in last:
        ref += ":latest"
    return ref


def archive_path(archive_dir: str, ref: str, base_dir: str = "") -> str:
    """The local archive file of ``ref``: ``<base_dir>/<archive_dir>/<archive_filename(ref)>``."""
    return os.path.join(base_dir, archive_dir, archive_filename(ref))
