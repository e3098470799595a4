"""Tables and figures of an evaluation, written by the CLI and drawn by the notebook.

Every figure and table is per population: real and synthetic results are never drawn in one number.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure  # not pyplot: no global state, nothing pops up or leaks

from evaluation import basemap
from evaluation.truth import truth
from locator.core.caches import CacheSet

COLORS = {"legacy": "#d95f02", "worker": "#7570b3", "locator": "#1b9e77"}
LABELS = {"legacy": "legacy CVMFS GeoIP", "worker": "2022 worker", "locator": "locator"}
LOCATOR_METHODS = ("declared", "override", "edge", "geoip", "colo", "fallback")


FEW_RECORDS = 30  # fewer scored records than this: an accuracy figure says it cannot rank the strategies
# What each figure of a report shows, as the text of its image (for a reader who cannot see it).
FIGURE_TEXT = {
    "accuracy": "Bars: the share of correct picks of each strategy over {n} {population} records",
    "map": "Maps, one per strategy: the {population} sites, the caches, and a line from each site to each wrong pick",
    "regret": "The extra distance of each strategy's picks beyond the nearest cache, {population} records",
    "refused": "How often each strategy picked a cache the record's namespace refuses, {population} records",
}


def of(scored: pd.DataFrame, population: str) -> pd.DataFrame:
    """The scorable records of one population ('real' or 'synthetic')."""
    rows = scored[(scored["synthetic"] == (population == "synthetic")) & scored["scorable"]]
    return rows


def federation_figure(caches: CacheSet, sites: pd.DataFrame, title: str = "") -> Figure:
    """Caches (sized by how many sites they are nearest to for public data; out of service hollow) and sites
    (coloured by the km to their nearest cache open to public data), every one of them inside the frame."""
    in_service = [(c.name, c.coordinate) for c in caches.in_service if c.coordinate is not None]
    lat, lon = sites["latitude"].to_numpy(float), sites["longitude"].to_numpy(float)
    nearest = truth(caches, lat.tolist(), lon.tolist(), [None] * len(lat))
    distances = nearest["nearest_km"].to_numpy()[:, np.newaxis]
    catchment = nearest["nearest"].value_counts()
    located = [c.coordinate for c in caches.caches if c.coordinate is not None]
    every_lat = np.concatenate([lat, [point.latitude for point in located]])
    every_lon = np.concatenate([lon, [point.longitude for point in located]])
    fig = Figure(figsize=(12.0, 5.4), layout="constrained")
    ax = fig.subplots()
    basemap.draw(ax, basemap.extent_of(every_lat, every_lon, 4.0, share=1.0))  # every cache and site on the map
    points = ax.scatter(
        lon,
        lat,
        c=distances[:, 0],
        cmap="viridis_r",
        s=22,
        zorder=4,
        edgecolors="white",
        linewidths=0.4,
        vmin=0,
        vmax=max(500.0, float(np.nanmax(distances[:, 0]))),
    )
    fig.colorbar(points, ax=ax, shrink=0.7, label="site to its nearest cache (km)")
    sizes = [30 + 25 * catchment.get(name, 0) for name, _ in in_service]
    ax.scatter(
        [point.longitude for _, point in in_service],
        [point.latitude for _, point in in_service],
        marker="^",
        s=sizes,
        color="#d95f02",
        edgecolors="black",
        linewidths=0.6,
        zorder=5,
        label="cache in service (size: sites it is nearest to)",
    )
    out = [c.coordinate for c in caches.caches if not c.in_service and c.coordinate is not None]
    if out:
        ax.scatter(
            [point.longitude for point in out],
            [point.latitude for point in out],
            marker="^",
            s=40,
            facecolors="none",
            edgecolors="black",
            zorder=5,
            label="cache down or disabled",
        )
    ax.scatter([], [], s=22, color="#3b528b", label="site")
    ax.legend(loc="lower left", fontsize=8, framealpha=0.9)
    ax.set_title(title or f"{len(caches.in_service)} caches in service and {len(sites)} sites", fontsize=10)
    return fig


def accuracy_figure(summary: dict[str, Any], population: str, strategies: Sequence[str]) -> Figure:
    """Accuracy by strategy, each bar labelled with its counts (correct/total, ties, no answer)."""
    entry = summary["populations"][population]
    fig = Figure(figsize=(6.4, 3.6), layout="constrained")
    ax = fig.subplots()
    values = [100 * (entry["strategies"][s]["accuracy"] or 0) for s in strategies]
    bars = ax.bar([LABELS[s] for s in strategies], values, color=[COLORS[s] for s in strategies])
    labels = []
    for s in strategies:
        stats = entry["strategies"][s]
        label = f"{stats['correct']}/{stats['total']}"
        if stats["ties"]:
            label += f"\n{stats['ties']} tie{'s' if stats['ties'] > 1 else ''}"
        if stats["refused"]:
            label += f"\n{stats['refused']} refused"
        if stats["no_answer"]:
            label += f"\n{stats['no_answer']} no answer"
        labels.append(label)
    ax.bar_label(bars, labels=labels, fontsize=9, padding=2)
    ax.set_ylim(0, 118)
    ax.set_ylabel("correct picks (%)")
    few = f"\nonly {entry['scored']} records: too few to rank the strategies" if entry["scored"] < FEW_RECORDS else ""
    ax.set_title(
        f"Nearest-cache accuracy, {population} observations ({entry['scored']} records, "
        f"{entry['sites']} sites; tie within {summary['tolerance_km']:g} km){few}",
        fontsize=9,
    )
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def map_figure(
    scored: pd.DataFrame, caches: CacheSet, population: str, strategies: Sequence[str], title: str = ""
) -> Figure:
    """One map per strategy: sites, caches, and a line from each site to every wrong pick it made there
    (wider for more records)."""
    rows = of(scored, population)
    positions = {c.name: c.coordinate for c in caches.caches if c.coordinate is not None}
    cache_lat = np.array([p.latitude for p in positions.values()])
    cache_lon = np.array([p.longitude for p in positions.values()])
    sites = rows.groupby("site").agg(latitude=("latitude", "first"), longitude=("longitude", "first"))
    extent = basemap.extent_of(sites["latitude"].to_numpy(float), sites["longitude"].to_numpy(float), 4.0)
    fig = Figure(figsize=(9.0, 3.9 * len(strategies)), layout="constrained")
    axes = fig.subplots(len(strategies), 1, squeeze=False)
    for ax, s in zip(axes[:, 0], strategies, strict=True):
        basemap.draw(ax, extent)
        misses = rows[~rows[f"{s}_correct"] & (rows[f"{s}_pick"] != "")]
        lines = misses.groupby(["site", f"{s}_pick"]).agg(
            count=("site", "size"), latitude=("latitude", "first"), longitude=("longitude", "first")
        )
        for (_, pick), line in lines.iterrows():
            if pick in positions:
                ax.plot(
                    [line["longitude"], positions[pick].longitude],
                    [line["latitude"], positions[pick].latitude],
                    color=COLORS[s],
                    lw=0.8 + 1.2 * np.log10(line["count"]),
                    alpha=0.75,
                    zorder=3,
                )
        wrong_sites = set(rows.loc[~rows[f"{s}_correct"], "site"])
        wrong = sites.index.isin(wrong_sites)
        ax.scatter(cache_lon, cache_lat, marker="^", s=40, color="#222222", zorder=4, label="cache")
        ax.scatter(
            sites["longitude"][~wrong],
            sites["latitude"][~wrong],
            s=16,
            color="#66a61e",
            zorder=5,
            edgecolors="white",
            linewidths=0.4,
            label="site: always right",
        )
        ax.scatter(
            sites["longitude"][wrong],
            sites["latitude"][wrong],
            s=28,
            color="#e7298a",
            zorder=6,
            edgecolors="white",
            linewidths=0.4,
            label="site: wrong at least once",
        )
        for records in (1, 10, 100, 1000):  # the width scale: how often a site made that wrong pick
            ax.plot([], [], color=COLORS[s], lw=0.8 + 1.2 * np.log10(records), label=f"to a wrong pick, {records:,}x")
        stats = rows[f"{s}_correct"]
        wrong_records = len(stats) - int(stats.sum())
        ax.set_title(
            f"{LABELS[s]}: wrong in {wrong_records:,} of {len(stats):,} records "
            f"({100 * wrong_records / max(1, len(stats)):.1f}%), {len(lines):,} site-to-cache lines",
            fontsize=10,
        )
        ax.legend(loc="lower left", fontsize=7, framealpha=0.9)
    fig.suptitle(title or f"Where each strategy picked wrong ({population} observations)", fontsize=11)
    return fig


def regret_figure(scored: pd.DataFrame, population: str, strategies: Sequence[str]) -> Figure:
    """How far from the nearest cache each strategy's picks were: the share of picks with regret > x km."""
    rows = of(scored, population)
    fig = Figure(figsize=(6.4, 3.6), layout="constrained")
    ax = fig.subplots()
    for s in strategies:
        regret = np.sort(rows[f"{s}_regret_km"].dropna().to_numpy())
        if not len(regret):
            continue
        beyond = 1.0 - np.arange(1, len(regret) + 1) / len(regret)
        ax.step(np.maximum(regret, 0.1), 100 * beyond, where="post", color=COLORS[s], label=LABELS[s])
    ax.set_xscale("log")
    ax.set_xlabel("regret: extra km over the nearest cache")
    ax.set_ylabel("picks with more regret (%)")
    ax.set_title(f"Regret distribution ({population} observations)", fontsize=10)
    ax.legend(fontsize=8)
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def refused_figure(scored: pd.DataFrame, population: str, strategies: Sequence[str]) -> Figure:
    """Picks of a cache that may not serve the record's namespace, per strategy and namespace: what being
    namespace-blind costs (each such pick is a transfer the cache refuses)."""
    rows = of(scored, population)
    namespaces = sorted(set(rows["namespace"]), key=lambda ns: (ns != "", ns))
    fig = Figure(figsize=(7.4, 3.8), layout="constrained")
    ax = fig.subplots()
    width = 0.8 / max(len(strategies), 1)
    x = np.arange(len(namespaces))
    for k, s in enumerate(strategies):
        counts = [int(rows.loc[rows["namespace"] == ns, f"{s}_refused"].sum()) for ns in namespaces]
        totals = [int((rows["namespace"] == ns).sum()) for ns in namespaces]
        bars = ax.bar(x + (k - (len(strategies) - 1) / 2) * width, counts, width, color=COLORS[s], label=LABELS[s])
        shares = [f"{100 * count / total:.0f}%" if total else "" for count, total in zip(counts, totals, strict=True)]
        ax.bar_label(bars, labels=shares, fontsize=7, padding=1)
    ax.set_xticks(x, [ns or "public data" for ns in namespaces], rotation=20, ha="right", fontsize=8)
    ax.set_ylabel("picks the namespace refuses")
    ax.set_title(f"Picks of a cache that does not serve the job's namespace ({population} observations)", fontsize=9)
    ax.legend(fontsize=8)
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def method_table(scored: pd.DataFrame, population: str, strategy: str = "locator") -> pd.DataFrame:
    """Share of decisions by method, with accuracy and regret per method."""
    rows = of(scored, population)
    grouped = rows.groupby(f"{strategy}_method")
    table = pd.DataFrame(
        {
            "decisions": grouped.size(),
            "correct": grouped[f"{strategy}_correct"].sum(),
            "mean_regret_km": grouped[f"{strategy}_regret_km"].mean().round(1),
            "max_regret_km": grouped[f"{strategy}_regret_km"].max().round(1),
        }
    )
    table["share"] = (table["decisions"] / max(len(rows), 1)).round(3)
    table["accuracy"] = (table["correct"] / table["decisions"]).round(3)
    order = [m for m in LOCATOR_METHODS if m in table.index] + [m for m in table.index if m not in LOCATOR_METHODS]
    return table.loc[order, ["decisions", "share", "correct", "accuracy", "mean_regret_km", "max_regret_km"]]


def disagreements(scored: pd.DataFrame, population: str, strategies: Sequence[str]) -> pd.DataFrame:
    """Records where any strategy was wrong: each strategy's pick, method, regret and refusal."""
    rows = of(scored, population)
    wrong = np.zeros(len(rows), dtype=bool)
    for s in strategies:
        wrong |= ~rows[f"{s}_correct"].to_numpy()
    columns = ["site", "namespace", "nearest", "nearest_km"]
    for s in strategies:
        columns += [f"{s}_pick", f"{s}_method", f"{s}_regret_km", f"{s}_refused"]
    return rows.loc[wrong, columns].round(1).reset_index(drop=True)


def markdown_table(frame: pd.DataFrame) -> str:
    """A DataFrame as a Markdown table (no extra dependency)."""
    head = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "|" + "---|" * len(frame.columns)
    body = [
        "| " + " | ".join("" if pd.isna(v) else str(v) for v in row) + " |" for row in frame.itertuples(index=False)
    ]
    return "\n".join([head, rule, *body])


def summary_table(summary: dict[str, Any], population: str, strategies: Sequence[str]) -> pd.DataFrame:
    entry = summary["populations"][population]["strategies"]
    return pd.DataFrame(
        [
            {
                "strategy": LABELS[s],
                "correct": f"{entry[s]['correct']}/{entry[s]['total']}",
                "accuracy": f"{100 * (entry[s]['accuracy'] or 0):.1f}%",
                "ties": entry[s]["ties"],
                "refused": entry[s]["refused"],
                "no answer": entry[s]["no_answer"],
                "mean regret km": entry[s]["mean_regret_km"],
                "max regret km": entry[s]["max_regret_km"],
                "observed/computed": f"{entry[s]['observed']}/{entry[s]['computed']}",
            }
            for s in strategies
        ]
    )


def save_figure(figure: Figure, directory: Path | None, name: str) -> Path | None:
    """Also keep a figure as `directory/name.png` (for reports and notes); None when no directory is set."""
    if directory is None:
        return None
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.png"
    figure.savefig(path, dpi=130)
    return path


def describe_inputs(inputs: Mapping[str, Any]) -> str:
    """One line naming what decided the computed picks (also printed by `evaluation score`)."""

    def database(info: Mapping[str, Any] | None) -> str:
        return "none" if info is None else f"{info['database_type']} built {info['built']} ({info['path']})"

    return (
        f"caches {inputs['caches_file']} ({inputs['caches']}); locator GeoIP {database(inputs['geoip'])}; "
        f"legacy GeoIP {database(inputs['legacy_geoip'])}; airports {inputs['airports_csv']} "
        f"({inputs['airports']}); overrides {inputs['overrides']}; "
        f"LOCATOR_FAR_FROM_COLO_KM={inputs['far_from_colo_km']:g}; "
        f"LOCATOR_FAR_FROM_COLO_ELSEWHERE_KM={inputs['far_from_colo_elsewhere_km']:g}; "
        f"LOCATOR_MAX_ACCURACY_KM={inputs['max_accuracy_km']:g}"
    )


def write_report(
    scored: pd.DataFrame,
    summary: dict[str, Any],
    caches: CacheSet,
    strategies: Sequence[str],
    out_dir: Path,
    inputs: Mapping[str, Any],
    title: str = "Cache selection evaluation",
) -> list[Path]:
    """sites.csv, summary.json, report.md and PNG figures per population; returns the files written. The
    inputs that decided the computed picks (databases, tables, policy) are written into the last two."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [out_dir / "sites.csv", out_dir / "summary.json", out_dir / "report.md"]
    scored.to_csv(written[0], index=False, float_format="%.3f")
    written[1].write_text(json.dumps({"inputs": inputs, **summary}, indent=2) + "\n")
    lines = [
        f"# {title}",
        "",
        f"A pick counts as correct when it is within {summary['tolerance_km']:g} km of the nearest cache "
        "in service that may serve the record's namespace (a *tie* when it is not that cache itself); a pick the "
        "namespace refuses and no answer count as wrong. Real and synthetic observations are reported separately.",
        "",
        "Computed picks were decided with: " + describe_inputs(inputs) + ".",
        "",
    ]
    for population, entry in summary["populations"].items():
        lines += [
            f"## {population.capitalize()} observations",
            "",
            f"{entry['scored']} scored records from {entry['sites']} sites"
            f" ({entry['unscorable']} without a site position were not scored).",
            "",
            markdown_table(summary_table(summary, population, strategies)),
            "",
        ]
        if not entry["scored"]:
            lines += ["No record could be scored (none has a site position), so no figure is drawn.", ""]
            continue
        for name, figure in (
            ("accuracy", accuracy_figure(summary, population, strategies)),
            ("map", map_figure(scored, caches, population, strategies)),
            ("regret", regret_figure(scored, population, strategies)),
            ("refused", refused_figure(scored, population, strategies)),
        ):
            path = out_dir / f"{name}_{population}.png"
            figure.savefig(path, dpi=130)
            written.append(path)
            lines += [f"![{FIGURE_TEXT[name].format(population=population, n=entry['scored'])}]({path.name})", ""]
        if "locator" in strategies:
            lines += [
                "### How the locator decided",
                "",
                markdown_table(method_table(scored, population).reset_index()),
                "",
            ]
        wrong = disagreements(scored, population, strategies)
        lines += ["### Where a strategy was wrong", ""]
        lines += [markdown_table(wrong.head(50)) if len(wrong) else "Nowhere.", ""]
        if len(wrong) > 50:
            lines += [f"(first 50 of {len(wrong)}; all rows are in sites.csv)", ""]
    written[2].write_text("\n".join(lines))
    return written
