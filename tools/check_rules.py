"""The alerts' PromQL parses: `make lint` runs this with the lint tools' Python (.venv-lint, which
has promql-parser), since kubernetes-validate checks a PrometheusRule's shape, not its
expressions. `python -m tools.check_rules RULES.yaml…`; exits non-zero naming each bad rule."""

from __future__ import annotations

import sys
from pathlib import Path

import promql_parser  # in .venv-lint only
import yaml


def problems(text: str) -> list[str]:
    found = []
    for document in yaml.safe_load_all(text):
        for group in (document or {}).get("spec", {}).get("groups", []):
            for rule in group.get("rules", []):
                name = rule.get("alert") or rule.get("record")
                try:
                    promql_parser.parse(str(rule["expr"]))
                except ValueError as exc:
                    found.append(f"{group['name']}/{name}: {exc}")
    return found


def main(paths: list[str]) -> int:
    found = [f"{path}: {p}" for path in paths for p in problems(Path(path).read_text())]
    for problem in found:
        print(problem, file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
