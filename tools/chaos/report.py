"""The run's table: what was done (faults, load) and what was found (each check)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from .faults import Fault

SHOWN_PROBLEMS = 8  # per check; the rest are counted


@dataclass
class Check:
    name: str
    via: str  # how it was read: gRPC, the databases (read-only), the broker, a command
    checked: int = 0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what was found and is no problem

    def problem(self, text: str) -> None:
        self.problems.append(text)

    @property
    def ok(self) -> bool:
        return not self.problems


def _table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = "+".join("-" * (w + 2) for w in widths)
    out = [f"+{line}+"]
    for i, row in enumerate([header, *rows]):
        out.append(
            "| " + " | ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) + " |"
        )
        if i == 0:
            out.append(f"+{line}+")
    out.append(f"+{line}+")
    return "\n".join(out)


def faults_table(faults: list[Fault]) -> str:
    by_kind: dict[tuple[str, str], list[Fault]] = {}
    for fault in faults:
        by_kind.setdefault((fault.kind, fault.target), []).append(fault)
    rows = [
        (
            kind,
            target or "-",
            str(len(done)),
            f"{max(f.took for f in done):.1f} s",
            "; ".join(f.note for f in done if f.note) or "-",
        )
        for (kind, target), done in sorted(by_kind.items())
    ]
    return _table(("fault", "target", "count", "back within", "note"), rows)


def load_table(counts: dict[str, int], retried: Counter[str], unexpected: list[str]) -> str:
    rows = [(what, str(n)) for what, n in counts.items()]
    rows.append(("answers asked again (no answer yet)", str(sum(retried.values()))))
    for why, n in retried.most_common(12):
        rows.append((f"  {why}", str(n)))
    rows.append(("refusals the clients' models exclude", str(len(unexpected))))
    return _table(("load", "count"), rows)


def checks_table(checks: list[Check]) -> str:
    rows = [
        (c.name, c.via, str(c.checked), "ok" if c.ok else f"FAIL ({len(c.problems)})")
        for c in checks
    ]
    text = _table(("check", "read through", "checked", "result"), rows)
    for check in checks:
        for note in check.notes[:SHOWN_PROBLEMS]:
            text += f"\n{check.name}: {note}"
        if check.problems:
            text += f"\n\n{check.name}:"
            for problem in check.problems[:SHOWN_PROBLEMS]:
                text += f"\n  - {problem}"
            if len(check.problems) > SHOWN_PROBLEMS:
                text += f"\n  … and {len(check.problems) - SHOWN_PROBLEMS} more"
    return text
