"""Cartoons of predictions, PSIPRED-style: helices as cylinders, strands as arrows, coil as a line.

A record is drawn in rows of `ROW` residues: the numbering every 10, the cartoon of the 3-state
prediction, the residue letters, the 8-state string and a confidence track (one bar per residue: the top
3-state probability, coloured by the predicted state, on a 0 to 1 scale). The cartoon is the 3-state prediction
(the most likely of the summed 3-state probabilities) and the SS8 row the most likely 8-state letter, which can
reduce to another 3-state (0.40 H and 0.60 spread over T, S and C: an H letter in a coil stretch): a note
under each record says so. Chains shorter than `ROW` get a row of their own length (`MIN_ROW` at least).
A prediction that carries accessibility and / or disorder (a multi-task model's: `Prediction.rsa`,
`.disorder` not None) gets a track of each under the confidence track, on the same 0 to 1 scale: RSA (one
bar per residue, blue where exposed, RSA >= 25%, brown where buried, a dashed line at 25%) and Dis (the
probability of disorder, dark purple from 0.5, a dashed line at 0.5), with a second header line as their
legend; a prediction without them is drawn exactly as before. Chains over `COMPACT_ABOVE` residues are drawn
compact (rows of `COMPACT_ROW` residues, numbering every 100, no letters), so a 40,000-residue chain is
still a picture of bounded size (and time); chains over `MAX_RESIDUES` are refused. Several records stack
in one picture.

Full view: every glyph is one SVG element with an id (a matplotlib gid): `helix<k>`, `strand<k>`,
`coil<k>` for the k-th segment of that state (from 1), `helix<k>-cont<j>` for a segment's part wrapped
onto the next row; with several records the ids get the prefix `r<n>-`. Compact view: one group per row
and state (`row<r>-helix`, ...). Bar tracks: one group per row and colour (`row<r>-conf-helix`, ...,
`row<r>-rsa-exposed`, `row<r>-rsa-buried`, `row<r>-disorder-high`, `row<r>-disorder-low`). matplotlib is
imported on first use (`pip install ss-predict[plot]`); figures are plain `matplotlib.figure.Figure`s, never
registered with pyplot.
"""
from __future__ import annotations

import io
import math
import re

import numpy as np

from ..core.alphabet import EXPOSED_AT, SS3
from ..errors import UserError

ROW, COMPACT_ROW, MIN_ROW = 100, 500, 64  # a chain shorter than ROW gets a row of its length (MIN_ROW at least)
COMPACT_ABOVE, MAX_RESIDUES = 5_000, 100_000
FONT_PT = 11                          # residue letters; DejaVu Sans Mono advances 1233/2048 em
RES_IN = FONT_PT * 1233 / 2048 / 72   # so one residue is one letter wide (0.092 in)
COMPACT_RES_IN = 0.02
LEFT_IN, RIGHT_IN, HEADER_IN = 0.55, 0.25, 0.42
DPI = 110
COLOURS = {"H": "#e8467c", "E": "#f2c12e", "C": "#6b6b6b"}
EDGES = {"H": "#8c1c43", "E": "#8a6a00"}
NAMES = {"H": "helix", "E": "strand", "C": "coil"}
# Track centres (inches below the top of a row), the heights of the cartoon and confidence tracks,
# and the height of a whole row.
FULL = {"num": 0.1, "cart": 0.32, "cart_h": 0.22, "aa": 0.6, "ss8": 0.79, "conf": 1.13, "conf_h": 0.22,
        "height": 1.36}
COMPACT = {"num": 0.1, "cart": 0.32, "cart_h": 0.2, "conf": 0.75, "conf_h": 0.3, "height": 0.98}
# The per-residue tracks beside secondary structure (drawn only where a prediction has the values): each one
# `STEP` inches below the one above it (the confidence track first), `STEP - gap` high; their legend is a second
# header line (HEADER_IN + TRACKS_HEADER_IN).
TRACKS = {"rsa": ("RSA", EXPOSED_AT, ("exposed", "#3a8fd0"), ("buried", "#a0783c")),
          "disorder": ("Dis", 0.5, ("high", "#7b2d9e"), ("low", "#cdb8dc"))}  # label, line, (>= line), (below)
STEP = {"full": 0.3, "compact": 0.28}
TRACKS_HEADER_IN = 0.18


def _matplotlib():
    try:
        import matplotlib
        from matplotlib.figure import Figure
    except ImportError:
        raise UserError("pictures need matplotlib: pip install 'ss-predict[plot]' (or pip install matplotlib)") \
            from None
    return matplotlib, Figure


def segments(ss3: str) -> list[tuple[str, int, int]]:
    """Runs of one state: (state, start, end_exclusive)."""
    return [(m.group()[0], m.start(), m.end()) for m in re.finditer(r"H+|E+|C+", ss3)]


def _layout(n: int, extra: tuple = ()) -> tuple[int, dict, float]:
    """Residues per row, track positions, inches per residue for a chain of n residues, with the `extra` tracks
    (names of TRACKS) under the confidence track."""
    width, tracks, res_in = ((COMPACT_ROW, COMPACT, COMPACT_RES_IN) if n > COMPACT_ABOVE
                             else (min(ROW, max(n, MIN_ROW)), FULL, RES_IN))
    if extra:
        step = STEP["compact" if n > COMPACT_ABOVE else "full"]
        tracks = {**tracks, "height": tracks["height"] + step * len(extra)}
        for k, name in enumerate(extra, 1):
            tracks[name], tracks[f"{name}_h"] = tracks["conf"] + step * k, step - 0.1
    return width, tracks, res_in


def _extra(pred) -> tuple:
    """The tracks beside secondary structure that `pred` has values for (TRACKS order)."""
    return tuple(k for k in TRACKS if getattr(pred, k, None) is not None)


def _record_height(pred) -> float:
    n, extra = len(pred.sequence), _extra(pred)
    width, tracks, _ = _layout(n, extra)
    return HEADER_IN + (TRACKS_HEADER_IN if extra else 0.0) + max(1, math.ceil(n / width)) * tracks["height"]


def _as_list(preds) -> list:
    preds = [preds] if not isinstance(preds, (list, tuple)) else list(preds)
    if not preds:
        raise UserError("nothing to draw: no predictions")
    for p in preds:
        check_length(p.id, len(p.sequence))
    return preds


def check_length(rid: str, n: int, instead: str = "-f ss2, horiz or csv") -> None:
    """Refuse a chain too long to draw; `instead` names the caller's other formats (the CLI's by default)."""
    if n > MAX_RESIDUES:
        raise UserError(f"record '{rid}': {n:,} residues; pictures are drawn for chains of up to {MAX_RESIDUES:,} "
                        f"(use {instead})")


class _Canvas:
    """Draws on a figure in inches from its top-left corner (one shared transform, no axes)."""

    def __init__(self, width_in: float, height_in: float):
        _, Figure = _matplotlib()  # first: without matplotlib, the one line that says how to install it
        from matplotlib.transforms import Affine2D
        self.fig = Figure(figsize=(width_in, height_in), dpi=DPI)
        self.t = Affine2D().scale(1, -1).translate(0, height_in) + self.fig.dpi_scale_trans

    def add(self, artist):
        artist.set_transform(self.t)
        self.fig.add_artist(artist)
        return artist

    def text(self, x, y, s, **kw):
        from matplotlib.text import Text
        return self.add(Text(x, y, s, va=kw.pop("va", "center"), **kw))


def figure(preds, title: str | None = None):
    """A matplotlib Figure of one prediction or a list of them (stacked, in order)."""
    preds = _as_list(preds)
    width_in = LEFT_IN + RIGHT_IN + max(w * r for w, _, r in (_layout(len(p.sequence)) for p in preds))
    top = 0.35 if title else 0.0
    canvas = _Canvas(width_in, top + sum(_record_height(p) for p in preds) + 0.05)
    if title:
        canvas.text(LEFT_IN, 0.2, title, fontsize=12, weight="bold")
    for n, p in enumerate(preds, 1):
        _draw_record(canvas, p, top, f"r{n}-" if len(preds) > 1 else "")
        top += _record_height(p)
    return canvas.fig


def _draw_record(c: _Canvas, pred, top: float, prefix: str) -> None:
    n, extra = len(pred.sequence), _extra(pred)
    width, tracks, res_in = _layout(n, extra)
    compact = n > COMPACT_ABOVE
    head = f"{pred.id} \u00b7 {n:,} residues"
    if compact:
        head += f" \u00b7 compact view above {COMPACT_ABOVE:,} residues, no letters"
    c.text(LEFT_IN, top + 0.2, head, fontsize=10, weight="bold")
    if not compact:  # why a letter of the SS8 row can disagree with the cartoon above it
        c.text(LEFT_IN, top + 0.36, "Pred, Conf: 3-state prediction and its probability (0 to 1)  \u00b7  SS8: the most "
               "likely of 8 states, which may reduce to another 3-state", fontsize=6, color="#666666")
    for s, x in (("H", 2.1), ("E", 1.4), ("C", 0.6)):  # legend, at the right end of the rows
        c.text(LEFT_IN + width * res_in - x, top + 0.2, f"\u25a0 {NAMES[s]}", color=COLOURS[s], fontsize=9)
    top += HEADER_IN
    if extra:
        _tracks_legend(c, extra, top + 0.08)
        top += TRACKS_HEADER_IN
    conf, state = pred.p3.max(1), pred.p3.argmax(1)
    labels = [("cart", "Pred"), ("conf", "Conf")] + ([] if compact else [("aa", "AA"), ("ss8", "SS8")])
    labels += [(k, TRACKS[k][0]) for k in extra]
    step = 100 if compact else 10
    for r in range(max(1, math.ceil(n / width))):
        y0, s, e = top + r * tracks["height"], r * width, min(n, (r + 1) * width)
        for key, label in labels:
            c.text(LEFT_IN - 0.08, y0 + tracks[key] - tracks.get(f"{key}_h", 0) / 2 * (key != "cart"), label,
                   fontsize=8, ha="right", color="#444444")
        for k in range((s // step + 1) * step, e + 1, step):
            c.text(LEFT_IN + (k - s - 0.5) * res_in, y0 + tracks["num"], str(k), fontsize=7.5, ha="center",
                   color="#333333")
        if not compact:
            c.text(LEFT_IN, y0 + tracks["aa"], pred.sequence[s:e], fontsize=FONT_PT, family="monospace")
            c.text(LEFT_IN, y0 + tracks["ss8"], pred.ss8[s:e], fontsize=FONT_PT, family="monospace",
                   color="#666666")
        _confidence_bars(c, conf[s:e], state[s:e], y0 + tracks["conf"], tracks["conf_h"], res_in,
                         f"{prefix}row{r + 1}")
        for key in ("conf",) + extra:
            if key != "conf":
                _value_bars(c, getattr(pred, key)[s:e], key, y0 + tracks[key], tracks[f"{key}_h"], res_in,
                            f"{prefix}row{r + 1}")
            for value in (0, 1):  # the track's scale, right of the row
                c.text(LEFT_IN + (e - s) * res_in + 0.03, y0 + tracks[key] - value * tracks[f"{key}_h"], str(value),
                       fontsize=6, color="#666666")
    _cartoon(c, pred.ss3, top, width, tracks, res_in, prefix, grouped=compact)


def _confidence_bars(c: _Canvas, conf, state, base: float, height: float, res_in: float, gid: str) -> None:
    from matplotlib.collections import PolyCollection
    from matplotlib.lines import Line2D
    gap = 0.12 * res_in if res_in > 0.05 else 0.0  # compact rows: contiguous bars (no aliasing)
    for k, st in enumerate(SS3):
        idx = np.nonzero(state == k)[0]
        if len(idx):
            x0, x1 = LEFT_IN + idx * res_in + gap, LEFT_IN + (idx + 1) * res_in - gap
            y1 = base - conf[idx] * height
            b = np.full(len(idx), base)
            verts = np.stack([np.stack(v, 1) for v in ((x0, b), (x0, y1), (x1, y1), (x1, b))], 1)
            c.add(PolyCollection(verts, facecolors=COLOURS[st], edgecolors="none", gid=f"{gid}-conf-{NAMES[st]}"))
    c.add(Line2D([LEFT_IN, LEFT_IN + len(conf) * res_in], [base, base], color="#999999", lw=0.5))


def _tracks_legend(c: _Canvas, extra: tuple, y: float) -> None:
    """The second header line: what the tracks beside secondary structure show, in their colours."""
    from matplotlib.textpath import TextPath
    items = []  # (text, colour, gap after it): at most 5.3 inches at 6.5 pt (the narrowest row, MIN_ROW, is 5.9)
    for key in extra:
        label, line, (_, high), (_, low) = TRACKS[key]
        high_text = f"exposed (\u2265 {line:.0%})" if key == "rsa" else f"disordered (\u2265 {line:g})"
        items += [(f"{label}, relative solvent accessibility:" if key == "rsa" else f"{label}, disorder:", "#666666",
                   0.07), ("\u25a0", high, 0.03), (high_text, "#555555", 0.07), ("\u25a0", low, 0.03),
                  ("buried" if key == "rsa" else "ordered", "#555555", 0.2)]
    x = LEFT_IN
    for text, colour, gap in items:
        c.text(x, y, text, fontsize=6.5, color=colour)
        x += TextPath((0, 0), text, size=6.5).get_extents().width / 72 + gap  # its width in DejaVu Sans, as drawn


def _value_bars(c: _Canvas, values, key: str, base: float, height: float, res_in: float, gid: str) -> None:
    """One bar per residue of a 0..1 value (none where it is NaN), in the colour of its side of the track's line,
    and the line dashed across the row."""
    from matplotlib.collections import PolyCollection
    from matplotlib.lines import Line2D
    _, line, (high_name, high), (low_name, low) = TRACKS[key]
    values = np.asarray(values, dtype=np.float64)
    gap = 0.12 * res_in if res_in > 0.05 else 0.0
    for name, colour, pick in ((high_name, high, values >= line), (low_name, low, values < line)):
        idx = np.nonzero(pick)[0]  # (NaN is neither)
        if len(idx):
            x0, x1 = LEFT_IN + idx * res_in + gap, LEFT_IN + (idx + 1) * res_in - gap
            y1 = base - np.clip(values[idx], 0, 1) * height
            b = np.full(len(idx), base)
            verts = np.stack([np.stack(v, 1) for v in ((x0, b), (x0, y1), (x1, y1), (x1, b))], 1)
            c.add(PolyCollection(verts, facecolors=colour, edgecolors="none", gid=f"{gid}-{key}-{name}"))
    right = LEFT_IN + len(values) * res_in
    c.add(Line2D([LEFT_IN, right], [base, base], color="#999999", lw=0.5))
    c.add(Line2D([LEFT_IN, right], [base - line * height] * 2, color="#555555", lw=0.5, ls=(0, (3, 2)),
                 gid=f"{gid}-{key}-line"))


def _pieces(ss3: str, width: int):
    """(state, k-th segment of that state, part number, row, first column, last column + 1, is its end)."""
    counts = {"H": 0, "E": 0, "C": 0}
    for st, a, b in segments(ss3):
        counts[st] += 1
        for part, r in enumerate(range(a // width, (b - 1) // width + 1)):
            s, e = max(a, r * width) - r * width, min(b, (r + 1) * width) - r * width
            yield st, counts[st], part, r, s, e, b <= (r + 1) * width


def _cartoon(c: _Canvas, ss3: str, top: float, width: int, tracks: dict, res_in: float, prefix: str,
             grouped: bool) -> None:
    """One element per glyph (full view) or one group per row and state (compact view)."""
    from matplotlib.collections import LineCollection, PolyCollection
    from matplotlib.lines import Line2D
    from matplotlib.patches import PathPatch
    from matplotlib.path import Path
    h = tracks["cart_h"]
    groups: dict[tuple[int, str], list] = {}
    for st, k, part, r, s, e, end in _pieces(ss3, width):
        x0, x1 = LEFT_IN + s * res_in, LEFT_IN + e * res_in
        yc = top + r * tracks["height"] + tracks["cart"]
        gid = f"{prefix}{NAMES[st]}{k}" + (f"-cont{part}" if part else "")
        if st == "C":
            shape = [(x0, yc), (x1, yc)]
        elif st == "H":
            shape = _cylinder(x0 + 0.006, x1 - 0.006, yc, h, face=not grouped)
        else:
            shape = _arrow(x0 + 0.006, x1 - 0.006, yc, h, end)
        if grouped:
            groups.setdefault((r, st), []).append(shape if st == "C" else shape[0])
        elif st == "C":
            c.add(Line2D(*zip(*shape), color=COLOURS["C"], lw=1.4, solid_capstyle="butt", gid=gid))
        else:
            verts, codes = shape
            c.add(PathPatch(Path(verts, codes), facecolor=COLOURS[st], edgecolor=EDGES[st], lw=0.6, gid=gid))
    for (r, st), shapes in groups.items():
        gid = f"{prefix}row{r + 1}-{NAMES[st]}"
        if st == "C":
            c.add(LineCollection(shapes, colors=COLOURS["C"], linewidths=1.0, gid=gid))
        else:
            c.add(PolyCollection(shapes, facecolors=COLOURS[st], edgecolors=EDGES[st], linewidths=0.3, gid=gid))


def _cylinder(x0: float, x1: float, yc: float, h: float, face: bool = True):
    """A rectangle with half-ellipse ends and the arc of its right face: (outline, path codes)."""
    from matplotlib.path import Path
    cap = min(0.045, (x1 - x0) / 4)
    t = np.linspace(-np.pi / 2, np.pi / 2, 9)
    right = np.stack([x1 - cap + cap * np.cos(t), yc + h / 2 * np.sin(t)], 1)
    left = np.stack([x0 + cap - cap * np.cos(t[::-1]), yc + h / 2 * np.sin(t[::-1])], 1)
    outline = np.concatenate([right, left, right[:1]])
    rim = np.stack([x1 - cap - cap * np.cos(t), yc + h / 2 * np.sin(t)], 1)  # the visible end of the cylinder
    verts = np.concatenate([outline, rim])
    codes = ([Path.MOVETO] + [Path.LINETO] * (len(outline) - 2) + [Path.CLOSEPOLY]
             + [Path.MOVETO] + [Path.LINETO] * (len(rim) - 1))
    return (verts, codes) if face and x1 - x0 >= 4 * cap else (outline[:-1], None)


def _arrow(x0: float, x1: float, yc: float, h: float, head: bool):
    """A strand's body, with an arrowhead where the strand ends: (outline, None)."""
    body = 0.3 * h
    if not head:
        return np.array([[x0, yc - body], [x1, yc - body], [x1, yc + body], [x0, yc + body]]), None
    hl = min(0.15, (x1 - x0) * 0.6)
    xh = x1 - hl
    return np.array([[x0, yc - body], [xh, yc - body], [xh, yc - h / 2], [x1, yc], [xh, yc + h / 2],
                     [xh, yc + body], [x0, yc + body]]), None


def _save(fig, fmt: str) -> bytes:
    matplotlib, _ = _matplotlib()
    buf = io.BytesIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "ss-predict"}):
        fig.savefig(buf, format=fmt, dpi=DPI, metadata={"Date": None} if fmt == "svg" else None)
    return buf.getvalue()


def svg(preds, title: str | None = None) -> str:
    """The picture as SVG text (letters as <text> elements: small files, selectable letters)."""
    return _save(figure(preds, title), "svg").decode("utf-8")


def png(preds, title: str | None = None) -> bytes:
    """The picture as PNG bytes."""
    return _save(figure(preds, title), "png")

