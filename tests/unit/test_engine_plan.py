"""Pure logic of the Docker engine concern: which packages where, or a clear refusal."""

import json

import pytest

from ollama_gate.operations.docker import (
    OFFICIAL_PACKAGES,
    DockerPlanError,
    daemon_json,
    docker_sources,
    engine_plan,
)


def os_info(os_id, version, codename, arch="amd64", **extra):
    info = {"os_id": os_id, "os_version_id": version, "os_codename": codename, "arch": arch,
            "docker": None, "compose": None}
    info.update(extra)
    return info


@pytest.mark.parametrize(
    ("os_id", "version", "codename"),
    [("debian", "12", "bookworm"), ("debian", "13", "trixie"),
     ("ubuntu", "22.04", "jammy"), ("ubuntu", "24.04", "noble")],
)
def test_official_supported(os_id, version, codename):
    plan = engine_plan(os_info(os_id, version, codename, "arm64"), "official")
    assert plan.packages == OFFICIAL_PACKAGES
    assert plan.repository == f"https://download.docker.com/linux/{os_id}"
    assert (plan.suite, plan.architecture) == (codename, "arm64")


def test_official_sources_file_is_deb822_with_signed_by():
    plan = engine_plan(os_info("debian", "13", "trixie"), "official")
    assert docker_sources(plan).splitlines() == [
        "Types: deb",
        "URIs: https://download.docker.com/linux/debian",
        "Suites: trixie",
        "Components: stable",
        "Architectures: amd64",
        "Signed-By: /etc/apt/keyrings/docker.asc",
    ]


@pytest.mark.parametrize(
    ("os_id", "version", "packages"),
    [("debian", "13", ("docker.io", "docker-compose")),
     ("ubuntu", "22.04", ("docker.io", "docker-compose-v2")),
     ("ubuntu", "24.04", ("docker.io", "docker-compose-v2"))],
)
def test_distro_packages(os_id, version, packages):
    assert engine_plan(os_info(os_id, version, "x"), "distro").packages == packages


def test_distro_on_debian12_says_what_to_use():
    with pytest.raises(DockerPlanError, match="Compose v1") as error:
        engine_plan(os_info("debian", "12", "bookworm"), "distro")
    assert "docker_install_method='official'" in str(error.value)


@pytest.mark.parametrize("method", ["official", "distro"])
@pytest.mark.parametrize(
    ("os_id", "version"), [("debian", "11"), ("ubuntu", "20.04"), ("fedora", "40"), (None, None)],
)
def test_unsupported_systems_are_refused(method, os_id, version):
    with pytest.raises(DockerPlanError, match="docker_install_method='none'"):
        engine_plan(os_info(os_id, version, None), method)


def test_official_without_codename_is_refused():
    with pytest.raises(DockerPlanError, match="codename"):
        engine_plan(os_info("debian", "13", None), "official")


def test_none_needs_compose_v2():
    plan = engine_plan(os_info("rocky", "9", None, docker="27.3.1", compose="2.29.7"), "none")
    assert plan.method == "none" and plan.packages == ()
    with pytest.raises(DockerPlanError, match="docker compose version"):
        engine_plan(os_info("debian", "12", "bookworm", docker="20.10.24"), "none")
    with pytest.raises(DockerPlanError, match="docker command is missing"):
        engine_plan(os_info("debian", "13", "trixie"), "none")


def test_unknown_method_names_the_setting():
    with pytest.raises(DockerPlanError, match="docker_install_method must be one of"):
        engine_plan(os_info("debian", "13", "trixie"), "snap")


def test_daemon_json_is_stable_and_sorted():
    text = daemon_json({"log-driver": "local", "dns": ["10.0.0.1"]})
    assert text == daemon_json({"dns": ["10.0.0.1"], "log-driver": "local"})
    assert list(json.loads(text)) == ["dns", "log-driver"]
    assert text.endswith("\n")
