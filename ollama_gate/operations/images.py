"""Get the stack's container images onto a host: pulled from a registry or loaded from archives."""

from __future__ import annotations

import os
import posixpath
import shlex

from pyinfra import host, logger
from pyinfra.api import FileUploadCommand, operation

from ollama_gate.facts.images import DockerImageRefs
from ollama_gate.images import archive_filename, archive_path, normalize_ref
from ollama_gate.operations.snapshot import fresh, known
from ollama_gate.operations.util import fail_host
from ollama_gate.settings import IMAGE_SOURCES



def missing_refs(refs, present) -> list[str]:
    """The references of ``refs`` that are not in ``present`` (the DockerImageRefs fact)."""
    have = {normalize_ref(ref) for ref in present or ()}
    missing = []
    for ref in refs:
        if normalize_ref(ref) not in have and ref not in missing:
            missing.append(ref)
    return missing


@operation()
def present(
    refs: list[str],
    source: str = "registry",
    archive_dir: str = "images",
    remote_dir: str = "/var/tmp",
):
    """
    Make sure the images are on the host, pulling or loading only the missing ones.

    + refs: image references (``images_ollama``, the ``proxy_image`` of the auth mode)
    + source: ``registry`` (``docker pull``) or ``archive`` (upload the ``docker save`` tar
      ``<archive_dir>/<archive_filename(ref)>`` and ``docker load`` it)
    + archive_dir: local directory of the archives (``images_archive_dir``), relative to the
      directory pyinfra runs in unless absolute
    + remote_dir: host directory the archive is uploaded to, then removed from; on disk, not a
      small tmpfs like ``/tmp`` can be (the Ollama image is gigabytes)

    **Example:**

    .. code:: python

        images.present(
            name="Ensure the stack's images are on the host.",
            refs=["ollama/ollama:0.12.6", "nginx:1.28.0"],
            source="registry",
        )
    """

    if source not in IMAGE_SOURCES:
        yield from fail_host(f"images_source must be one of {', '.join(IMAGE_SOURCES)}, not {source!r}.")
        return

    if source == "archive":
        # Checked before anything changes, for every image, present or not.
        base_dir = host.state.cwd or ""
        missing_files = [
            archive_path(archive_dir, ref, base_dir)
            for ref in refs
            if not os.path.isfile(archive_path(archive_dir, ref, base_dir))
        ]
        if missing_files:
            yield from fail_host(
                f"images_source='archive' but images_archive_dir={archive_dir!r} lacks "
                f"{', '.join(missing_files)} (make each with `docker save REF -o FILE`).")
            return

    missing = missing_refs(refs, known(DockerImageRefs))
    if missing:
        # Asked again before loading gigabytes: Docker may have been started by this run.
        missing = missing_refs(refs, fresh(DockerImageRefs))
    if not missing:
        host.noop(f"images {', '.join(refs)} are already present")
        return

    if host.state.is_executing:
        verb = "Pulling" if source == "registry" else "Loading"
        logger.info(f"{host.print_prefix}{verb} images: {', '.join(missing)}")

    for ref in missing:
        if source == "registry":
            yield f"docker pull {shlex.quote(ref)}"
            continue
        local = archive_path(archive_dir, ref, host.state.cwd or "")
        remote = posixpath.join(remote_dir, f"ollama-gate-{archive_filename(ref)}")
        yield FileUploadCommand(local, remote, remote_temp_filename=host.get_temp_filename(remote))
        yield f"docker load -i {shlex.quote(remote)}"
        yield f"rm -f {shlex.quote(remote)}"
