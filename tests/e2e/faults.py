"""The README's fault table, measured by the tests that cause each fault.

An e2e test that injects a fault records one row with ``record(request, ...)``: what it
tried, what it asserted holds, and how long the converging (or refusing) run took. Rows are
written to .lab/faults/ (this run's measurements, never committed). Then

    python -m tests.e2e.faults --write      (make fault-table)

copies the measured rows to tests/e2e/faults/ (committed, one file per row) and rewrites the
README section between the markers from them; tests/unit/test_fault_table.py checks that the
README says exactly what those files say, and that each row's test exists.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import time
from pathlib import Path

from ollama_gate import PROJECT_DIR

MEASURED_DIR = PROJECT_DIR / ".lab" / "faults"
COMMITTED_DIR = Path(__file__).resolve().parent / "faults"
README = PROJECT_DIR / "README.md"
START = "<!-- fault-table:start (python -m tests.e2e.faults --write; do not edit by hand) -->"
END = "<!-- fault-table:end -->"
HEADER = ("| # | What was tried | What holds (asserted) | Recovery | Test |\n"
          "|---|---|---|---|---|\n")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60]


def record(request, item: str, tried: str, holds: str, seconds: float, how: str) -> Path:
    """Record one row of the fault table, measured now.

    + request: pytest's ``request`` fixture (the row names the test)
    + item: the issue item, e.g. ``"14.3"``
    + tried: the fault that was caused
    + holds: what the test asserted afterwards
    + seconds: how long the run that converged or refused took
    + how: what that run was ("rerun with the default", "refused before any change")
    """
    node = request.node
    test = f"{Path(str(node.path)).relative_to(PROJECT_DIR)}::{getattr(node, 'originalname', None) or node.name}"
    row = {"item": item, "tried": tried, "holds": holds, "seconds": round(seconds, 1), "how": how,
           "test": test, "measured": time.strftime("%Y-%m-%d", time.gmtime())}
    MEASURED_DIR.mkdir(parents=True, exist_ok=True)
    path = MEASURED_DIR / f"{item}-{_slug(tried)}.json"
    path.write_text(json.dumps(row, indent=2) + "\n")
    return path


def rows(directory: Path = COMMITTED_DIR) -> list[dict]:
    """The rows in ``directory``, in table order (item, then what was tried)."""
    found = [json.loads(p.read_text()) for p in sorted(directory.glob("*.json"))]
    return sorted(found, key=lambda r: ([int(x) for x in r["item"].split(".")], r["tried"]))


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render(table_rows: list[dict]) -> str:
    """The README section (markers included)."""
    lines = [
        f"| {r['item']} | {_cell(r['tried'])} | {_cell(r['holds'])} | "
        f"{r['seconds']:.1f} s: {_cell(r['how'])} | `{r['test'].split('::')[-1]}` |\n"
        for r in table_rows
    ]
    return START + "\n" + HEADER + "".join(lines) + END


def readme_section(text: str) -> str | None:
    """The fault table section of the README text, or None when the markers are missing."""
    start, end = text.find(START), text.find(END)
    if start < 0 or end < start:
        return None
    return text[start:end + len(END)]


def write() -> list[dict]:
    """Copy the measured rows over the committed ones (same file names) and rewrite the
    README section; return the committed rows."""
    COMMITTED_DIR.mkdir(exist_ok=True)
    for path in sorted(MEASURED_DIR.glob("*.json")) if MEASURED_DIR.exists() else []:
        shutil.copy(path, COMMITTED_DIR / path.name)
    table = rows()
    text = README.read_text()
    section = readme_section(text)
    if section is None:
        raise SystemExit(f"{README}: no fault table markers ({START} ... {END})")
    README.write_text(text.replace(section, render(table)))
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.e2e.faults", description=__doc__.split("\n")[0])
    parser.add_argument("--write", action="store_true",
                        help="copy .lab/faults/ to tests/e2e/faults/ and rewrite the README section")
    args = parser.parse_args(argv)
    if args.write:
        table = write()
        print(f"{len(table)} row(s) in {COMMITTED_DIR}; README section rewritten", file=sys.stderr)
    else:
        measured = rows(MEASURED_DIR) if MEASURED_DIR.exists() else []
        print(render(measured or rows()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
