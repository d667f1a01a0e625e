"""Plots of an ss-eval result, drawn from its JSON alone: confusion heatmaps (8x8 and 3x3), per-class F1,
the reliability diagram (3- and 8-state) and Q3 against chain length. matplotlib is imported lazily."""
from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np

from ..core.files import atomic_path

KINDS = ("confusion", "f1", "reliability", "q3_length")
DPI = 110


def _figure(w: float, h: float, ncols: int = 1):
    from matplotlib.figure import Figure
    fig = Figure(figsize=(w, h), dpi=DPI, layout="constrained")
    return fig, fig.subplots(1, ncols, squeeze=False)[0]


def confusion(result: dict, name: str):
    fig, axes = _figure(10.5, 4.6, 2)
    fig.get_layout_engine().set(w_pad=0.15)
    for ax, key, states in ((axes[0], "confusion8", result["states8"]), (axes[1], "confusion3", result["states3"])):
        cm = np.asarray(result[key], dtype=float)
        rows = cm.sum(1, keepdims=True)
        frac = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
        im = ax.imshow(frac, cmap="Blues", vmin=0, vmax=1)
        for i in range(len(states)):
            for j in range(len(states)):
                ax.text(j, i, f"{100 * frac[i, j]:.0f}", ha="center", va="center", fontsize=8 if len(states) > 3
                        else 11, color="white" if frac[i, j] > 0.55 else "black")
        ax.set_xticks(range(len(states)), list(states))
        ax.set_yticks(range(len(states)), [f"{s} ({int(n):,})" for s, n in zip(states, rows.ravel())])
        ax.set_xlabel("predicted")
        ax.set_ylabel("true (residues)")
        n = len(states)
        q = result["q8"] if n == 8 else result["q3"]
        ax.set_title(f"{n}-state: % of each true state (Q{n} {q:.1f})", fontsize=10)
    fig.colorbar(im, ax=axes, shrink=0.8, label="fraction of the true state")
    fig.suptitle(f"{name}: confusion matrices ({result['proteins']} chains)", fontsize=11)
    return fig


def f1(result: dict, name: str):
    fig, axes = _figure(9, 3.6, 2)
    for ax, key, states in ((axes[0], "per_class8", result["states8"]), (axes[1], "per_class3", result["states3"])):
        vals = [result[key][s]["f1"] for s in states]
        support = [result[key][s]["support"] for s in states]
        bars = ax.bar(list(states), vals, color="#4c72b0")
        for b, v, n in zip(bars, vals, support):
            ax.text(b.get_x() + b.get_width() / 2, v + 0.01, f"{v:.2f}", ha="center", va="bottom", fontsize=8)
        ax.set_ylim(0, 1.05)
        ax.set_ylabel("F1")
        ax.set_title(f"{len(states)}-state per-class F1", fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle(f"{name}: per-class F1", fontsize=11)
    return fig


def reliability(result: dict, name: str):
    fig, axes = _figure(9, 4.4, 2)
    cal = result.get("calibration") or {}
    for ax, key in ((axes[0], "3"), (axes[1], "8")):
        rel = cal.get(f"reliability{key}")
        ax.plot([0, 1], [0, 1], color="#999999", lw=1, ls="--", label="perfect calibration")
        if rel:
            bins = [b for b in rel["bins"] if b["residues"]]
            centres = [(b["lo"] + b["hi"]) / 2 for b in bins]
            width = bins[0]["hi"] - bins[0]["lo"] if bins else 0
            ax.bar(centres, [b["accuracy"] for b in bins], width=width * 0.9, color="#4c72b0", alpha=0.8,
                   label="accuracy in bin")
            ax.plot([b["confidence"] for b in bins], [b["accuracy"] for b in bins], "o-", color="#c44e52",
                    ms=3, lw=1, label="(mean confidence, accuracy)")
            share = ax.twinx()
            share.step([b["lo"] for b in rel["bins"]] + [1], [b["residues"] / rel["residues"] for b in rel["bins"]]
                       + [rel["bins"][-1]["residues"] / rel["residues"]], where="post", color="#55a868", lw=1)
            share.set_ylim(0, 1)
            share.set_ylabel("share of residues (green)", fontsize=8, color="#55a868")
            share.tick_params(labelsize=7, colors="#55a868")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel(f"confidence (top {key}-state probability)")
        ax.set_ylabel("accuracy")
        ece = cal.get(f"ece{key}", float("nan"))
        ax.set_title(f"{key}-state: ECE {ece:.4f} ({len(rel['bins']) if rel else 15} bins)", fontsize=10)
        ax.legend(loc="upper left", fontsize=7)
    fig.suptitle(f"{name}: reliability diagram", fontsize=11)
    return fig


def q3_length(result: dict, name: str):
    fig, axes = _figure(7, 4.2)
    ax = axes[0]
    chains = result.get("per_chain") or {"length": [], "q3": []}
    length, q3 = np.asarray(chains["length"], dtype=float), np.asarray(chains["q3"], dtype=float)
    ax.scatter(length, q3, s=6, alpha=0.5, color="#4c72b0", label="one chain")
    if len(length):
        edges = np.unique(np.quantile(length, np.linspace(0, 1, 9)))
        idx = np.clip(np.searchsorted(edges, length, side="right") - 1, 0, len(edges) - 2)
        mids = [np.median(length[idx == k]) for k in range(len(edges) - 1) if (idx == k).any()]
        meds = [np.median(q3[idx == k]) for k in range(len(edges) - 1) if (idx == k).any()]
        ax.plot(mids, meds, "o-", color="#c44e52", label="median Q3 per length octile")
        ax.set_xscale("log")
        from matplotlib.ticker import NullFormatter, ScalarFormatter
        ticks = [t for t in (10, 20, 50, 100, 200, 500, 1000, 2000, 5000)
                 if length.min() / 1.5 <= t <= length.max() * 1.5]
        ax.set_xticks(ticks)
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax.axhline(result["q3"], color="#999999", ls="--", lw=1, label=f"Q3 over all residues {result['q3']:.1f}")
    ax.set_xlabel("chain length (residues, log scale)")
    ax.set_ylabel("Q3 of the chain (%)")
    ax.set_ylim(0, 100)
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    ax.set_title(f"{name}: Q3 against chain length ({len(length)} chains)", fontsize=11)
    return fig


def png_bytes(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


def plot_stem(report: dict, json_path: Path) -> str:
    """What the plots of a set are named after: <json stem>.<set>, or the JSON's stem alone where the report holds
    one set that the stem names already (ss-eval's default names do: ckpt.casp12.json -> ckpt.casp12.f1.png)."""
    stem = json_path.name.removesuffix(".json")
    sets = list(report["results"])
    return stem if len(sets) == 1 and re.search(rf"\.{re.escape(sets[0])}(-\d+)?$", stem) else f"{stem}.<set>"


def write_plots(report: dict, json_path: Path) -> list[Path]:
    """plot_stem.<kind>.png next to the result JSON for every set and kind; returns the paths."""
    json_path = Path(json_path)
    written = []
    for name, result in report["results"].items():
        for kind in KINDS:
            fig = globals()[kind](result, name)
            path = json_path.parent / f"{plot_stem(report, json_path).replace('<set>', name)}.{kind}.png"
            with atomic_path(path) as tmp:
                tmp.write_bytes(png_bytes(fig))
            written.append(path)
    return written
