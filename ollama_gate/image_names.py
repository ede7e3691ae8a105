"""Image naming: which references are valid and pinned (the images_* settings)."""

from __future__ import annotations

import re
from typing import Any


_DIGEST = r"sha256:[0-9a-f]{64}"
_IMAGE_NAME = r"[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*"
_IMAGE_HOST = r"(?:[a-zA-Z0-9.-]+(?::[0-9]+)?/)?"
_IMAGE_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
_IMAGE_RE = re.compile(rf"^{_IMAGE_HOST}{_IMAGE_NAME}(?::(?P<tag>{_IMAGE_TAG}))?(?:@(?P<digest>{_DIGEST}))?$")


def image_ref_error(value: Any) -> str | None:
    """Image references must be pinned: an explicit tag other than latest, or a digest."""
    if not isinstance(value, str):
        return f"must be a string, got {type(value).__name__} {value!r}"
    match = _IMAGE_RE.match(value)
    if not match:
        return f"{value!r} is not a valid image reference"
    if match["digest"]:
        return None
    if not match["tag"]:
        return f"{value!r} has no tag; pin an explicit version (name:1.2.3) or a digest (name@sha256:...)"
    if match["tag"] == "latest":
        return f"{value!r} uses :latest; pin an explicit version so every host runs the same image"
    return None
