"""The deploy files (k8s, compose, Procfile) are what tools/deploy_files.py derives from the one
port table: a port changed in services/kit/ports.py cannot be forgotten elsewhere."""

from __future__ import annotations

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
