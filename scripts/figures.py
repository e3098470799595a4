"""The figure the README opens with, drawn from the shipped data: every cache of `data/caches.csv` and the 68
OSPool sites of the 2022 study, on one map.

    python -m scripts.figures            # writes docs/federation.png (make figures)
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from evaluation import report
from evaluation.paths import STUDY_2022_DIR
from locator.settings import DATA_DIR
from locator.sources.caches_file import load_caches

DOCS = Path(__file__).resolve().parent.parent / "docs"


def federation(out: Path) -> Path:
    caches = load_caches(DATA_DIR / "caches.csv")
    sites = pd.read_csv(STUDY_2022_DIR / "sites.csv", keep_default_na=False)
    sites = sites[sites["ospool_2022"].astype(str).str.lower() == "true"]
    title = (
        f"OSDF: {len(caches)} caches ({len(caches.in_service)} in service) and the {len(sites)} OSPool sites of the "
        "2022 study"
    )
    figure = report.federation_figure(caches, sites, title)
    saved = report.save_figure(figure, out, "federation")
    assert saved is not None
    return saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=DOCS, help="directory for federation.png (default docs/)")
    print(federation(parser.parse_args().out))


if __name__ == "__main__":
    main()
