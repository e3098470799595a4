"""Observation records: reading CSV and JSON lines, the schema, positions from a sites file."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from evaluation.errors import RecordError
from evaluation.paths import STUDY_2022_DIR
from evaluation.probe import append_record
from evaluation.records import FIELDS, read_records, read_sites, resolve_positions

EVALUATION_DOC = Path(__file__).resolve().parent.parent / "docs" / "evaluation.md"


def test_csv_and_json_lines_read_into_one_schema(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("site,latitude,longitude,colo,extra\nX,40.0,-96.0,DFW,kept\n")
    append_record(tmp_path / "b.jsonl", {"site": "Y", "client_ip": "129.93.1.1", "synthetic": True})
    append_record(tmp_path / "b.jsonl", {"site": "Z", "latitude": "", "legacy_error": "timeout"})
    records = read_records([tmp_path / "a.csv", tmp_path / "b.jsonl"])
    assert list(records["site"]) == ["X", "Y", "Z"]
    assert set(FIELDS) <= set(records.columns)
    assert records.loc[0, "latitude"] == 40.0 and records.loc[2, "latitude"] != records.loc[2, "latitude"]
    assert records["synthetic"].tolist() == [False, True, False]
    assert records.loc[0, "extra"] == "kept" and records.loc[1, "colo"] == ""


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("r.txt", "x", "unknown format"),
        ("r.jsonl", "{not json", "cannot read"),
        ("missing.csv", None, "not found"),
    ],
)
def test_bad_records_files(tmp_path: Path, name: str, content: str | None, message: str) -> None:
    if content is not None:
        (tmp_path / name).write_text(content)
    with pytest.raises(RecordError, match=message):
        read_records([tmp_path / name])


def test_positions_resolved_by_site_name_or_any_other_name(tmp_path: Path) -> None:
    (tmp_path / "r.csv").write_text(
        "site,latitude,longitude\nUColorado_HEP,,\nOSG_US_SIUE_CC,,\nnowhere,,\nAMNH,1.0,2.0\nSIUE-CC-production,5.0,\n"
    )
    records = resolve_positions(read_records([tmp_path / "r.csv"]), read_sites(STUDY_2022_DIR / "sites.csv"))
    assert records.loc[0, ["latitude", "longitude"]].tolist() == [40.015, -105.27]
    assert records.loc[1, ["latitude", "longitude"]].tolist() == [38.7931, -89.9961]  # a resource name
    assert records.loc[2, "latitude"] != records.loc[2, "latitude"]  # unknown stays unknown (NaN)
    assert records.loc[3, ["latitude", "longitude"]].tolist() == [1.0, 2.0]  # a given position is kept
    assert records.loc[4, "latitude"] == 38.7931  # half a position is no position


def test_every_record_field_is_documented() -> None:
    text = EVALUATION_DOC.read_text()
    for field in FIELDS:
        assert re.search(rf"^\| `{field}` \|", text, re.MULTILINE), f"{field} is missing from docs/evaluation.md"


def test_append_record_writes_one_json_line(tmp_path: Path) -> None:
    line = append_record(tmp_path / "r.jsonl", {"site": "A", "latitude": 1.5})
    assert json.loads(line) == {"site": "A", "latitude": 1.5}
    assert (tmp_path / "r.jsonl").read_text() == line + "\n"
