"""The growth service's gRPC API: the servicers (servicers.py), each built from one part per
concern (api/<concern>.py): a part's methods are the RPCs of its concern, and each authorises,
checks sizes, validates, calls one use case and converts its answer to proto. An RPC no part
defines answers UNIMPLEMENTED. The rule sets' proto ⇄ domain conversions are here too
(rules_convert.py reads an upload, rules_wire.py writes the message and the stored JSON); the
use cases use them to store rule sets in their proto JSON form."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..deps import GrowthDeps
    from ..usecases import GrowthUseCases


def build_servicers(deps: GrowthDeps, usecases: GrowthUseCases) -> list[object]:
    # Imported here: the parts import the use cases, which import rules_convert from this
    # package.
    from .servicers import GrowthAdminApi, GrowthApi

    return [GrowthApi(deps, usecases), GrowthAdminApi(deps, usecases)]
