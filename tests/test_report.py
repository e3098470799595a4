"""The report: files written, figures that are real PNGs, the tables in Markdown."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from evaluation.harness import build_harness
from evaluation.paths import STUDY_2022_DIR
from evaluation.records import read_records
from evaluation.report import disagreements, method_table, write_report
from evaluation.synthetic import generate

PNG = b"\x89PNG\r\n\x1a\n"


def test_report_for_real_and_synthetic_records(tmp_path: Path) -> None:
    harness = build_harness(STUDY_2022_DIR / "caches.csv")
    try:
        records = pd.concat([read_records([STUDY_2022_DIR / "observations.csv"]), generate(300)], ignore_index=True)
        scored, summary = harness.evaluate(records)
        inputs = harness.inputs()
        written = write_report(scored, summary, harness.federation.caches, harness.names, tmp_path, inputs)
    finally:
        harness.close()
    names = {path.name for path in written}
    for population in ("real", "synthetic"):
        for figure in ("accuracy", "map", "regret", "refused"):
            assert f"{figure}_{population}.png" in names
            assert (tmp_path / f"{figure}_{population}.png").read_bytes().startswith(PNG)
    assert json.loads((tmp_path / "summary.json").read_text()) == {"inputs": inputs, **summary}
    assert inputs["geoip"]["database_type"] == "DBIP-City-Lite" and inputs["legacy_geoip"]["built"] == "2018-07-03"
    assert (inputs["caches"], inputs["airports"], inputs["far_from_colo_km"]) == (9, 9159, 1500.0)
    text = (tmp_path / "report.md").read_text()
    assert "Computed picks were decided with: caches " in text and "LOCATOR_FAR_FROM_COLO_KM=1500" in text
    assert "## Real observations" in text and "## Synthetic observations" in text
    # UColorado wrong (colo), ASU right (colo), SIUE right by its unlocated (weighted rendezvous) order
    assert "| locator | 2/3 |" in text
    sites = pd.read_csv(tmp_path / "sites.csv")
    assert len(sites) == 303
    assert {"legacy_regret_km", "worker_correct", "locator_method", "locator_skipped"} <= set(sites.columns)
    computed = sites[sites["locator_source"] == "computed"]
    assert computed["locator_skipped"].fillna("").str.contains("declared:").all()  # every source tried is named
    assert set(method_table(scored, "synthetic").index) <= {
        "declared",
        "override",
        "edge",
        "geoip",
        "colo",
        "fallback",
    }
    wrong = disagreements(scored, "real", harness.names)
    assert set(wrong["site"]) == {"UColorado_HEP", "ASU-DELL_M420"}  # at SIUE every strategy is right or tied


def test_the_readmes_map_is_drawn_from_the_shipped_data(tmp_path: Path) -> None:
    """`make figures` draws docs/federation.png (committed); here into a scratch directory: every cache inside."""
    import re

    from scripts.figures import federation

    drawn = federation(tmp_path)
    assert drawn.read_bytes().startswith(PNG)
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    (alt,) = re.findall(r"!\[([^\]]*)\]\(docs/federation\.png\)", readme)
    assert len(alt) > 80, "the README's map needs a text that says what it shows"  # every image has alt text
    assert not re.findall(r"!\[\]\(", readme)


def test_records_without_a_position_draw_no_figure_and_say_why(tmp_path: Path) -> None:
    harness = build_harness(STUDY_2022_DIR / "caches.csv")
    try:
        records = generate(20)
        records["latitude"], records["longitude"] = float("nan"), float("nan")  # no site position anywhere
        scored, summary = harness.evaluate(records)
        written = write_report(scored, summary, harness.federation.caches, harness.names, tmp_path, harness.inputs())
    finally:
        harness.close()
    assert not [path for path in written if path.suffix == ".png"]
    assert (
        "No record could be scored (none has a site position), so no figure is drawn."
        in (tmp_path / "report.md").read_text()
    )
