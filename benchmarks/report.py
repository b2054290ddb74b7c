"""Plain-text tables of a scenario's result (the JSON file holds everything; this is for reading)."""

from __future__ import annotations

from typing import Any

_SKIP = {"by_route"}


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, float):
        return f"{value:,.3f}" if value < 10 else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return "—" if value is None else str(value)


def table(rows: list[dict[str, Any]]) -> str:
    cols: list[str] = []  # every row's keys, in first-seen order (a later row may add a column)
    for row in rows:
        cols += [c for c in row if c not in cols and c not in _SKIP and not isinstance(row[c], dict)]
    cells = [[_fmt(r.get(c)) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True))]
    lines += ["  ".join(v.rjust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join("  " + line for line in lines)


def render(scenario: dict[str, Any]) -> str:
    head = f"\n== {scenario['scenario']} ({scenario.get('scenario_seconds', '?')} s)"
    parts = [head]
    if scenario.get("rows"):
        parts.append(table(scenario["rows"]))
    for key, value in scenario.items():
        if key in ("scenario", "rows", "scenario_seconds"):
            continue
        if isinstance(value, dict):
            parts.append(f"  {key}: " + ", ".join(f"{k} {_fmt(v)}" for k, v in value.items()))
        elif not isinstance(value, list) or key != "rows":
            parts.append(f"  {key}: {_fmt(value) if not isinstance(value, list) else value}")
    return "\n".join(parts)
