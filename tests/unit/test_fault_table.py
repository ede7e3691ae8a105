"""The README's fault table says exactly what the rows measured by the e2e tests say."""

from __future__ import annotations

import re

from ollama_gate import PROJECT_DIR
from tests.e2e import faults


def test_readme_fault_table_is_the_measured_rows():
    section = faults.readme_section(faults.README.read_text())
    assert section is not None, "README.md lacks the fault table markers"
    assert section == faults.render(faults.rows()), \
        "README fault table differs from tests/e2e/faults/: run `make fault-table`"


def test_every_row_names_a_test_that_exists_and_a_figure():
    table = faults.rows()
    assert table, "no measured fault rows in tests/e2e/faults/"
    for row in table:
        path, _, name = row["test"].partition("::")
        source = (PROJECT_DIR / path).read_text()
        assert re.search(rf"^def {re.escape(name)}\(", source, re.M), row["test"]
        assert row["seconds"] >= 0 and row["tried"] and row["holds"] and row["how"]


def test_render_escapes_cells_and_orders_by_item():
    rows = [{"item": "14.10", "tried": "b", "holds": "x | y", "seconds": 1.0, "how": "h", "test": "t.py::a"},
            {"item": "14.3", "tried": "a", "holds": "z", "seconds": 2.25, "how": "h", "test": "t.py::b"}]
    ordered = sorted(rows, key=lambda r: ([int(x) for x in r["item"].split(".")], r["tried"]))
    text = faults.render(ordered)
    assert text.index("| 14.3 |") < text.index("| 14.10 |")
    assert "x \\| y" in text and "2.2 s: h" in text or "2.3 s: h" in text
