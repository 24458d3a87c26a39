"""The one table of the suite's ports: every other place (settings, Procfile, compose,
Kubernetes) takes its numbers from here (deploy files are generated: `make deploy-files`)."""

from __future__ import annotations

from typing import NamedTuple


class Ports(NamedTuple):
    grpc: int
    ops: int


PORTS: dict[str, Ports] = {
    "identity": Ports(grpc=50051, ops=8081),
    "growth": Ports(grpc=50052, ops=8082),
    "points": Ports(grpc=50053, ops=8083),
    "subscription": Ports(grpc=50054, ops=8084),
    "giftcard": Ports(grpc=50055, ops=8085),
}
