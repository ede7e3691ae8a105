"""Images: build the lab's base, host and stand-in images once, and save the stand-ins.

No image can be pulled here, so the base is made by debootstrap + `docker import`; every
other lab image is built FROM it. Stand-ins for the Docker Hub images the product pulls
are saved as `docker save` archives in .lab/images/, named by
ollama_gate.images.archive_filename, for the deploy's images_source = "archive".
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from ollama_gate.images import archive_filename

from . import (BASE_IMAGE, HOST_IMAGE, IMAGE_SOURCES, IMAGES_DIR, LABEL, NGINX_IMAGE,
               OLLAMA_IMAGE, OPENRESTY_IMAGE, STANDIN_IMAGES)
from .run import apt_install, docker, log, run

DEFAULT_MIRROR = "http://deb.debian.org/debian"
SOURCE_LABEL = "ollama-gate-lab.source"
HUB_DEBIAN = "debian:trixie"
OLLAMA_DOCKERFILE = IMAGE_SOURCES / "ollama" / "Dockerfile"


def image_exists(ref: str) -> bool:
    """True when the outer engine has the image ref."""
    return docker("image", "inspect", ref, check=False, capture=True).returncode == 0


def debian_mirror() -> str:
    """The Debian mirror this machine's apt uses (LAB_DEBIAN_MIRROR wins), for debootstrap."""
    if os.environ.get("LAB_DEBIAN_MIRROR"):
        return os.environ["LAB_DEBIAN_MIRROR"]
    sources = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
    for path in sources:
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError):
            continue
        # One-line format ("deb URI suite ...") and deb822 ("URIs: URI").
        for uri in re.findall(r"^\s*(?:deb\s+(?:\[[^\]]*\]\s+)?|URIs:\s*)(\S+)", text, re.M):
            if re.search(r"/debian/?$", uri):
                return uri.rstrip("/")
    return DEFAULT_MIRROR


def build_base() -> None:
    """Make ollama-gate-lab/debian:trixie: debootstrap --variant=minbase + docker import."""
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        # debootstrap needs root on Debian; a laptop with Docker usually reaches Docker Hub.
        log(f"not root on Debian: docker pull {HUB_DEBIAN} as the base instead of debootstrap")
        if docker("pull", "-q", HUB_DEBIAN, check=False, capture=True).returncode == 0:
            docker("tag", HUB_DEBIAN, BASE_IMAGE)
            return
        raise SystemExit("lab: the base image needs debootstrap (as root on Debian) or a "
                         f"pullable {HUB_DEBIAN}; or tag any Debian 13 image as {BASE_IMAGE}")
    if not shutil.which("debootstrap"):
        apt_install("debootstrap")
    mirror = debian_mirror()
    log(f"debootstrap trixie from {mirror} (about a minute)")
    with tempfile.TemporaryDirectory(prefix="ollama-gate-lab-rootfs-", dir="/var/tmp") as tmp:
        rootfs = Path(tmp) / "rootfs"
        run(["debootstrap", "--variant=minbase", "trixie", str(rootfs), mirror],
            capture=True)
        # No apt cache or lists in the image; every build runs apt-get update first.
        for sub in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for entry in (rootfs / sub).glob("*"):
                if entry.is_file():
                    entry.unlink()
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "--numeric-owner", "-c", "."],
                               stdout=subprocess.PIPE)
        result = subprocess.run(["docker", "import", "--change", 'CMD ["/bin/bash"]',
                                 "--change", f"LABEL {LABEL}", "-", BASE_IMAGE],
                                stdin=tar.stdout, capture_output=True, text=True)
        tar.stdout.close()
        if tar.wait() != 0 or result.returncode != 0:
            raise SystemExit(f"lab: docker import of the base failed: {result.stderr.strip()}")


def source_digest(context: Path, build_args: dict[str, str]) -> str:
    """SHA-256 of what an image is built from: its context's files, build args and base.

    Stored as a label, so an image whose Dockerfile or program changed is built again.
    """
    digest = hashlib.sha256()
    for path in sorted(p for p in context.rglob("*") if p.is_file()):
        if "__pycache__" in path.parts:
            continue
        digest.update(str(path.relative_to(context)).encode() + b"\0" + path.read_bytes() + b"\0")
    for key, value in sorted({**build_args, "BASE": image_id(BASE_IMAGE)}.items()):
        digest.update(f"{key}={value}\0".encode())
    return digest.hexdigest()


def built_from(ref: str) -> str | None:
    """The source digest label of image ref, or None when there is no such image."""
    result = docker("image", "inspect", "-f", f'{{{{index .Config.Labels "{SOURCE_LABEL}"}}}}',
                    ref, check=False, capture=True)
    return result.stdout.strip() if result.returncode == 0 else None


def build(ref: str, context: Path, source: str, no_cache: bool = False, **build_args: str) -> None:
    """docker build ref from context (labelled as the lab's, BASE = the lab's Debian)."""
    args = ["build", "-q", *(["--no-cache"] if no_cache else []), "-t", ref,
            "--label", LABEL, "--label", f"{SOURCE_LABEL}={source}",
            "--build-arg", f"BASE={BASE_IMAGE}"]
    for key, value in build_args.items():
        args += ["--build-arg", f"{key}={value}"]
    docker(*args, str(context), capture=True)


def wait_for_ollama_dockerfile(timeout: float) -> None:
    """The Ollama stand-in is written by another engineer; wait (bounded) until it exists."""
    deadline = time.monotonic() + timeout
    if not OLLAMA_DOCKERFILE.exists():
        log(f"waiting up to {timeout:.0f} s for {OLLAMA_DOCKERFILE}")
    while not OLLAMA_DOCKERFILE.exists():
        if time.monotonic() > deadline:
            raise SystemExit(f"lab: {OLLAMA_DOCKERFILE} is missing; the Ollama stand-in "
                             "cannot be built")
        time.sleep(5)


# What each image is built from: ref -> (context dir, build args).
def _recipes() -> dict[str, tuple[Path, dict[str, str]]]:
    proxy = IMAGE_SOURCES / "proxy"
    return {
        HOST_IMAGE: (IMAGE_SOURCES / "host", {}),
        NGINX_IMAGE: (proxy, {"FLAVOR": "nginx"}),
        OPENRESTY_IMAGE: (proxy, {"FLAVOR": "openresty"}),
        OLLAMA_IMAGE: (IMAGE_SOURCES / "ollama", {}),
    }


def ensure_images(rebuild: bool = False, wait_ollama: float = 0) -> dict[str, float]:
    """Build every lab image that is missing or older than its sources (all with rebuild),
    and save the stand-ins whose archive does not hold the image as it is now.

    Returns the seconds each step took, for the report of `up`.
    """
    timings: dict[str, float] = {}
    start = time.monotonic()
    if rebuild or not image_exists(BASE_IMAGE):
        build_base()
        timings[BASE_IMAGE] = time.monotonic() - start
    for ref, (context, build_args) in _recipes().items():
        if ref == OLLAMA_IMAGE and not OLLAMA_DOCKERFILE.exists():
            if not wait_ollama:
                log(f"WARNING: {OLLAMA_DOCKERFILE} is missing: no Ollama stand-in, so no "
                    "deploy on this lab yet")
                continue
            wait_for_ollama_dockerfile(wait_ollama)
        source = source_digest(context, build_args)
        current = built_from(ref)
        if current == source and not rebuild:
            continue
        if current is not None and not rebuild:
            log(f"{ref}: its sources changed since it was built")
        log(f"building {ref}")
        step = time.monotonic()
        build(ref, context, source, no_cache=rebuild, **build_args)
        timings[ref] = time.monotonic() - step
    if timings:
        prune_old_images()
    IMAGES_DIR.mkdir(parents=True, exist_ok=True)
    for ref in STANDIN_IMAGES:
        if not image_exists(ref):
            continue
        archive = IMAGES_DIR / archive_filename(ref)
        if archive.exists() and not rebuild and archive_is_current(ref, archive):
            continue
        log(f"saving {ref} to {archive}")
        step = time.monotonic()
        partial = archive.with_suffix(".tar.partial")
        docker("save", "-o", str(partial), ref)
        partial.rename(archive)
        image_id_file(archive).write_text(image_id(ref) + "\n")
        timings[f"save {ref}"] = time.monotonic() - step
    return timings


def image_id(ref: str) -> str:
    """The image ID of ref in the outer engine."""
    return docker("image", "inspect", "-f", "{{.Id}}", ref, capture=True).stdout.strip()


def image_id_file(archive: Path) -> Path:
    """Beside each archive, the ID of the image saved in it (to notice a rebuilt image)."""
    return archive.with_name(archive.name + ".id")


def archive_is_current(ref: str, archive: Path) -> bool:
    """True when archive holds the image ref is now."""
    id_file = image_id_file(archive)
    return id_file.exists() and id_file.read_text().strip() == image_id(ref)


def prune_old_images() -> None:
    """Remove the lab's images that a newer build left without a tag (unless still in use)."""
    docker("image", "prune", "-f", "--filter", f"label={LABEL}", capture=True)


def remove_images() -> list[str]:
    """Remove every lab image and the saved archives; return what was removed."""
    removed = []
    for ref in (*reversed(list(_recipes())), BASE_IMAGE):
        if image_exists(ref):
            docker("image", "rm", "-f", ref, capture=True)
            removed.append(ref)
    prune_old_images()
    if IMAGES_DIR.exists():
        shutil.rmtree(IMAGES_DIR)
        removed.append(str(IMAGES_DIR))
    return removed
