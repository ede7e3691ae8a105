"""Facts about the container images present on a host."""

from __future__ import annotations

from typing_extensions import override

from pyinfra.api import FactBase

from .inspected import image_refs


class DockerImageRefs(FactBase[list]):
    """
    Returns the references of the images the host's Docker engine holds, sorted: ``repo:tag``
    for every tagged image and ``repo@digest`` for every image with a registry digest (images
    loaded from an archive have none). Empty when Docker is absent or its engine does not answer.

    .. code:: python

        ["nginx:1.28.0", "ollama/ollama:0.12.6", "ollama/ollama@sha256:4f2a..."]
    """

    @override
    def requires_command(self) -> str:
        return "docker"

    default = list

    @override
    def command(self) -> str:
        return (
            "docker image ls --format '{{.Repository}} {{.Tag}} {{.Digest}}' 2>/dev/null || true"
        )

    def shared_command(self) -> str:
        """The command within HostState: its one ``docker inspect`` (facts/inspected.py)
        also asked about the images the stack runs, so this section holds the references
        of those of them that are present (not every image of the engine: what the
        images operation asks). Printed as ``docker image ls`` prints them."""
        return image_refs()

    @override
    def process(self, output) -> list:
        refs = set()
        for line in output:
            bits = line.split()
            if len(bits) != 3 or bits[0] == "<none>":
                continue
            repository, tag, digest = bits
            if tag != "<none>":
                refs.add(f"{repository}:{tag}")
            if digest != "<none>":
                refs.add(f"{repository}@{digest}")
        return sorted(refs)
