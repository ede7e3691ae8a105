"""Ollama's on-disk model store on the operator's machine, for hosts without internet.

`ollama pull` writes ``manifests/<host>/<namespace>/<model>/<tag>`` (a Docker v2 manifest
listing a config and layers by digest) and ``blobs/sha256-<hex>`` under ``~/.ollama/models``.
``models_local_path`` points at such a directory or at an archive of one (``build_archive``,
``make models-archive``); the deploy copies the manifests and the blobs a host lacks.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tarfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .model_names import OLLAMA_REGISTRY

DEFAULT_NAMESPACE = "library"
_DIGEST = re.compile(r"^sha256:([0-9a-f]{64})$")


class ModelStoreError(Exception):
    """A models directory or archive that cannot serve the deploy; the message says why."""


def manifest_parts(name: str) -> tuple[str, str, str, str]:
    """(host, namespace, model, tag) of a model name with Ollama's defaults
    (types/model/name.go): ``gemma3:1b`` -> (registry.ollama.ai, library, gemma3, 1b)."""
    base, tag = name, "latest"
    if ":" in name.rsplit("/", 1)[-1]:
        base, tag = name.rsplit(":", 1)
    parts = base.split("/")
    if len(parts) == 1:
        return OLLAMA_REGISTRY, DEFAULT_NAMESPACE, parts[0], tag
    if len(parts) == 2:
        return OLLAMA_REGISTRY, parts[0], parts[1], tag
    if len(parts) == 3:
        return parts[0], parts[1], parts[2], tag
    raise ModelStoreError(f"{name!r} is not a model name ([host/][namespace/]model[:tag])")


def blob_name(digest: str) -> str:
    """The file name of a blob: ``sha256:ab..`` -> ``sha256-ab..``."""
    if not _DIGEST.match(digest or ""):
        raise ModelStoreError(f"{digest!r} is not a sha256 digest")
    return digest.replace(":", "-")


@dataclass(frozen=True)
class Model:
    """One stored model: its manifest (relative path and bytes) and the blobs it needs."""

    name: str
    manifest_path: str  # "manifests/registry.ollama.ai/library/gemma3/1b"
    manifest: bytes
    blobs: tuple  # ((file name, size on disk), ...), config first

    @property
    def manifest_sha256(self) -> str:
        return hashlib.sha256(self.manifest).hexdigest()


class Store:
    """A models directory (``manifests/`` and ``blobs/``)."""

    def __init__(self, root: Path, where: str):
        self.root = root
        self.where = where  # what messages call it (the directory or the archive)

    def _manifest_file(self, name: str) -> Path | None:
        parts = manifest_parts(name)
        exact = self.root.joinpath("manifests", *parts)
        if exact.is_file():
            return exact
        # Ollama matches names case-insensitively (getExistingName).
        want = tuple(p.lower() for p in parts)
        for path in (self.root / "manifests").glob("*/*/*/*"):
            rel = path.relative_to(self.root / "manifests").parts
            if path.is_file() and tuple(p.lower() for p in rel) == want:
                return path
        return None

    def model(self, name: str) -> Model:
        path = self._manifest_file(name)
        if path is None:
            raise ModelStoreError("no manifest " + "/".join(("manifests", *manifest_parts(name))))
        raw = path.read_bytes()
        try:
            manifest = json.loads(raw)
            layers = [manifest["config"], *manifest["layers"]]
            blobs = tuple((blob_name(layer["digest"]), int(layer["size"])) for layer in layers)
        except (ValueError, KeyError, TypeError) as e:
            raise ModelStoreError(f"{path.relative_to(self.root)} is not an Ollama manifest ({e})") from None
        # Blobs are named by their sha256 (checked when an archive is made, and on the host
        # before a copied blob is moved in); their size is what is on disk.
        on_disk = []
        for blob, _declared in blobs:
            file = self.root / "blobs" / blob
            if not file.is_file():
                raise ModelStoreError(f"blob {blob} is missing")
            on_disk.append((blob, file.stat().st_size))
        return Model(name, path.relative_to(self.root).as_posix(), raw, tuple(on_disk))

    def blob_path(self, blob: str) -> Path:
        return self.root / "blobs" / blob

    def missing(self, names) -> list[tuple[str, str]]:
        """(name, why) for each model the store cannot provide."""
        out = []
        for name in names:
            try:
                self.model(name)
            except ModelStoreError as e:
                out.append((name, str(e)))
        return out


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ollama-gate" / "models"


@lru_cache(maxsize=8)
def _extracted(archive: str, size: int, mtime_ns: int) -> Path:
    """The archive unpacked once into the cache (keyed by path, size and time)."""
    key = hashlib.sha256(f"{archive}\0{size}\0{mtime_ns}".encode()).hexdigest()[:16]
    target = _cache_dir() / key
    if (target / ".complete").exists():
        return target
    partial = target.with_name(key + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        with tarfile.open(archive) as tar:
            for member in tar.getmembers():
                if not (member.name.startswith(("manifests/", "blobs/")) or member.name in ("manifests", "blobs")):
                    raise ModelStoreError(f"{archive} holds {member.name!r}: not an archive of a models directory")
            tar.extractall(partial, filter="data")
    except (tarfile.TarError, OSError) as e:
        shutil.rmtree(partial, ignore_errors=True)
        raise ModelStoreError(f"{archive} cannot be read as a tar archive ({e})") from None
    (partial / ".complete").touch()
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    return target


def open_store(path: Path) -> Store:
    """The store at ``path``: a models directory, or a tar archive of one."""
    path = Path(path).expanduser()
    if path.is_dir():
        if not (path / "manifests").is_dir() or not (path / "blobs").is_dir():
            raise ModelStoreError(f"{str(path)!r} has no manifests/ and blobs/ (an Ollama models "
                                  "directory is ~/.ollama/models)")
        return Store(path, str(path))
    if path.is_file():
        st = path.stat()
        return Store(_extracted(str(path.resolve()), st.st_size, st.st_mtime_ns), str(path))
    raise ModelStoreError(f"no such local directory or archive {str(path)!r}")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def build_archive(source: Path, names: list[str], out: Path) -> tuple[int, int]:
    """Write a tar of the manifests of ``names`` and the blobs they need, from the models
    directory ``source``; every blob's digest is checked on the way. Returns (files, bytes)."""
    store = open_store(source)
    if not (store.root / "manifests").is_dir():
        raise ModelStoreError(f"{source} is not a models directory")
    missing = store.missing(names)
    if missing:
        raise ModelStoreError("; ".join(f"{name}: {why}" for name, why in missing))
    models = [store.model(name) for name in names]
    blobs = sorted({blob for m in models for blob, _ in m.blobs})
    for blob in blobs:
        if "sha256-" + sha256_file(store.blob_path(blob)) != blob:
            raise ModelStoreError(f"blob {blob} does not match its digest (a damaged download?)")
    partial = out.with_name(out.name + ".partial")
    total = 0
    with tarfile.open(partial, "w", format=tarfile.PAX_FORMAT) as tar:
        for model in models:
            tar.add(store.root / model.manifest_path, arcname=model.manifest_path)
        for blob in blobs:
            tar.add(store.blob_path(blob), arcname=f"blobs/{blob}")
            total += store.blob_path(blob).stat().st_size
    partial.rename(out)
    return len(models) + len(blobs), total
