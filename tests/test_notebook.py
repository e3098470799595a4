"""The analysis notebook runs top to bottom, headless and offline, on the shipped data; it is committed
without outputs."""

from __future__ import annotations

import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "cache_decisions.ipynb"


def test_committed_without_outputs() -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, "strip outputs before committing"
    assert "parameters" in notebook.cells[1].metadata.get("tags", [])


def test_runs_headless_without_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTEBOOK_FIGURES", str(tmp_path / "figures"))
    monkeypatch.setenv("NOTEBOOK_SYNTHETIC_RECORDS", "3000")  # every cell runs; the synthetic section smaller
    monkeypatch.setenv("NOTEBOOK_LOADSIM_HOURS", "0.25")  # and the simulated load shorter
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    started = time.monotonic()
    # Any cell error raises CellExecutionError and fails the test.
    NotebookClient(
        notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    elapsed = time.monotonic() - started
    images = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 9
    assert {p.name for p in (tmp_path / "figures").iterdir()} >= {
        "federation.png",
        "accuracy_real.png",
        "accuracy_synthetic.png",
        "regret_synthetic.png",
        "load_per_cache.png",
        "loadsim.png",
    }
    print(f"notebook ran in {elapsed:.1f} s")
