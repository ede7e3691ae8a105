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


def stack_images(settings) -> list[str]:
    """The images the stack runs: Ollama, and the proxy of the auth mode."""
    return [settings.images_ollama, settings.proxy_image]


def archive_path(archive_dir: str, ref: str, base_dir: str = "") -> str:
    """The local archive file of ``ref``: ``<base_dir>/<archive_dir>/<archive_filename(ref)>``."""
    return os.path.join(base_dir, archive_dir, archive_filename(ref))


def missing_archives(settings, refs=None, base_dir: str = "") -> list[str]:
    """The local archive files that ``images_source = "archive"`` needs and that do not exist.

    Empty when the source is not "archive". ``refs`` defaults to the stack's images;
    ``base_dir`` is the directory a relative ``images_archive_dir`` is taken from: the
    directory pyinfra runs in (its ``state.cwd``, as for pyinfra's own ``files.put``).
    """
    if settings.images_source != "archive":
        return []
    if refs is None:
        refs = stack_images(settings)
    paths = [archive_path(settings.images_archive_dir, ref, base_dir) for ref in refs]
    return [path for path in paths if not os.path.isfile(path)]
