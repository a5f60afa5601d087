"""The one way the pipeline benchmarks print their table and save their JSON."""

from __future__ import annotations

import json
from pathlib import Path


def print_table_and_save(
    rows: list[tuple[str, str, str]], results: dict, out: Path, value_header: str
) -> None:
    """Print (measure, value, target) rows as an aligned table, then write `results` as JSON to `out`."""
    width = max(len(r[0]) for r in rows)
    vwidth = max(len(r[1]) for r in rows + [("", value_header, "")])
    print(f"{'measure':<{width}}  {value_header:<{vwidth}}  target")
    print("-" * (width + vwidth + 18))
    for name, value, target in rows:
        print(f"{name:<{width}}  {value:<{vwidth}}  {target}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {out}")
