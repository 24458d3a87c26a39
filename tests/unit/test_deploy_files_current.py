"""The deploy files (k8s, compose, Procfile) are what tools/deploy_files.py derives from the one
port table: a port changed in services/kit/ports.py cannot be forgotten elsewhere."""

from __future__ import annotations

import yaml

from services.kit.config import ServiceSettings
from services.kit.ports import PORTS
from tools import deploy_files


def test_deploy_files_are_current():
    stale = deploy_files.stale()
    assert not stale, f"stale: {[str(p) for p in stale]}: run `make deploy-files`"


def test_every_built_service_has_a_port_row_and_its_settings_use_it():
    for name in deploy_files.built():

        class Settings(ServiceSettings, service=name):
            pass

        settings = Settings.load()
        assert (settings.grpc_port, settings.ops_port) == PORTS[name]
        assert f":{settings.grpc_port}" in deploy_files.banner()


def test_the_pods_run_as_the_images_user_on_a_read_only_root():
    """The Dockerfile's USER is the pods' runAsUser/runAsGroup, and every container of every
    Deployment keeps its root filesystem read-only (the image writes nothing at run time)."""
    dockerfile = (deploy_files.ROOT / "deploy/docker/Dockerfile").read_text()
    (user_line,) = [line for line in dockerfile.splitlines() if line.startswith("USER ")]
    uid, gid = (int(part) for part in user_line.split()[1].split(":"))
    for name in deploy_files.built():
        text = (deploy_files.ROOT / f"deploy/k8s/base/{name}.yaml").read_text()
        (deployment,) = [d for d in yaml.safe_load_all(text) if d["kind"] == "Deployment"]
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert (pod["securityContext"]["runAsUser"], pod["securityContext"]["runAsGroup"]) == (
            uid,
            gid,
        )
        for container in pod["containers"] + pod["initContainers"]:
            assert container["securityContext"]["readOnlyRootFilesystem"] is True, name
