"""An interactive residual-quantization explorer that works without a kernel (chapter 6).

:func:`rvq_explorer` returns a self-contained HTML widget (HTML, inline SVG and plain
JavaScript; no library, no network request) for 2-D RVQ codebooks: the reader moves the
input ``z`` with two sliders and chooses the number of stages ``n_q``; the widget draws
every stage as an arrow from where the stages before it left the reconstruction, lists
the chosen indices and counts the bits, ``sum_s log2 K_s`` (``n_q log2 K`` when every
stage has ``K`` codewords). It runs in the rendered book (the script is part of the
page) and in JupyterLab or Jupyter Notebook (an HTML output with a script; each call
gets its own element ids, so several widgets can share a page).

The greedy encoding is computed in the browser by :data:`GREEDY_RVQ_JS`, the same
algorithm as :func:`rvqlib.rvq.rvq_encode`: for each stage the squared Euclidean
distance to every codeword of the residual, ties to the lowest index, then the chosen
codeword is subtracted. The widget checks itself when it starts: it encodes a set of
points for which Python computed the codes with :func:`~rvqlib.rvq.rvq_encode`
(including exact ties) and, if any code differs, shows an error in the widget and
raises a JavaScript error.

:func:`grid_codebook` and :func:`book_grid_codebooks` build the hand-made grid
codebooks of chapter 6 ("Watching the stages zoom in").

DOM contract (relied on by the book's browser test): the root element carries the
``rvq-explorer`` data attribute (written in the source, not here, so that this page is
not mistaken for the widget); it contains ``input[type=range]`` elements with
``data-role`` ``z1``, ``z2`` and ``nq``, at least one ``<svg>``, an element with
``data-role="codes"`` whose text lists the chosen indices separated by commas
(``"12, 18"``) and an element with ``data-role="bits"`` whose text contains the number
of bits. Every ``input`` event re-renders.
"""

from __future__ import annotations

import html as _html
import json
import math
import uuid
from collections.abc import Sequence
from typing import Any

import numpy as np

from rvqlib.rvq import rvq_encode

__all__ = [
    "GREEDY_RVQ_JS",
    "book_grid_codebooks",
    "explorer_html",
    "grid_codebook",
    "rvq_explorer",
]

#: The widget's greedy RVQ encoder, a JavaScript function ``rvqEncode(z, books, nq)``
#: (``z`` a 2-element array, ``books`` an array of arrays of ``[x, y]`` codewords) that
#: returns the ``nq`` indices. Exposed so that tests can run it outside a browser.
GREEDY_RVQ_JS = """\
function rvqEncode(z, books, nq) {
  var r0 = z[0], r1 = z[1], codes = [];
  for (var s = 0; s < nq; s++) {
    var cb = books[s], best = 0, bestD = Infinity;
    for (var k = 0; k < cb.length; k++) {
      var d0 = r0 - cb[k][0], d1 = r1 - cb[k][1];
      var d = d0 * d0 + d1 * d1;
      if (d < bestD) { bestD = d; best = k; }
    }
    codes.push(best);
    r0 = r0 - cb[best][0];
    r1 = r1 - cb[best][1];
  }
  return codes;
}
"""

# Stage colours: matplotlib's default cycle, as in the chapter's static figures.
_COLOURS = [
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
]

_CSS = """\
.rvqx { max-width: 700px; font-family: system-ui, -apple-system, "Segoe UI", Roboto,
  "Helvetica Neue", Arial, sans-serif; font-size: 15px; color: #222; background: #fff;
  border: 1px solid #ddd; border-radius: 6px; padding: 10px 12px; box-sizing: border-box;
  margin: 0.5em 0 1em 0; }
.rvqx .rvqx-title { font-weight: 600; font-size: 16px; margin-bottom: 6px; }
.rvqx .rvqx-controls { display: flex; flex-wrap: wrap; gap: 4px 18px; margin-bottom: 6px; }
.rvqx label { display: flex; align-items: center; gap: 6px; white-space: nowrap; }
.rvqx input[type=range] { width: 150px; }
.rvqx output { display: inline-block; min-width: 3.2em; font-variant-numeric: tabular-nums; }
.rvqx .rvqx-panels { display: flex; gap: 12px; }
.rvqx .rvqx-panels svg { width: calc(50% - 6px); height: auto; display: block; }
.rvqx .rvqx-readout { margin-top: 6px; line-height: 1.45; }
.rvqx .rvqx-readout b { font-weight: 600; }
.rvqx .rvqx-error { color: #b00020; font-weight: 600; }
.rvqx .rvqx-note { color: #555; font-size: 14px; }
"""

# The widget's script. RVQX_ID is replaced by the root element's id.
_SCRIPT = """\
(function () {
  "use strict";
  // The root: the element around this script (JupyterLab may run the script before
  // the output is attached to the page), else the element with the widget's id.
  var me = document.currentScript;
  var root = (me && me.closest && me.closest("[data-rvq-explorer]")) ||
    document.getElementById("RVQX_ID");
  if (!root || root.getAttribute("data-rvqx-ready")) { return; }
  root.setAttribute("data-rvqx-ready", "1");
  var data = JSON.parse(root.querySelector('script[type="application/json"]').textContent);
  var books = data.books, colours = data.colours, uid = data.uid;
  GREEDY
  var NS = "http://www.w3.org/2000/svg", SIZE = 340, M = {l: 62, r: 10, t: 30, b: 40};
  function el(name, attrs, parent) {
    var e = document.createElementNS(NS, name);
    for (var k in attrs) { e.setAttribute(k, attrs[k]); }
    if (parent) { parent.appendChild(e); }
    return e;
  }
  function q(role) { return root.querySelector('[data-role="' + role + '"]'); }
  function fmt(x, d) {
    var s = x.toFixed(d);
    if (s.indexOf(".") >= 0) { s = s.replace(/0+$/, "").replace(/\\.$/, ""); }
    return s === "-0" ? "0" : s;
  }
  function vec(v, d) { return "[" + fmt(v[0], d) + ", " + fmt(v[1], d) + "]"; }
  function niceStep(span) {
    var raw = span / 4, p = Math.pow(10, Math.floor(Math.log10(raw))), m = raw / p;
    return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
  }
  function decimals(step) { return Math.max(0, -Math.floor(Math.log10(step) + 1e-9)); }
  // A square window [cx - h, cx + h] x [cy - h, cy + h] mapped to the plot area.
  function frame(svg, cx, cy, h, title, xlabel) {
    while (svg.firstChild) { svg.removeChild(svg.firstChild); }
    var w = SIZE - M.l - M.r, ht = SIZE - M.t - M.b;
    var sx = function (x) { return M.l + (x - (cx - h)) / (2 * h) * w; };
    var sy = function (y) { return M.t + ((cy + h) - y) / (2 * h) * ht; };
    var defs = el("defs", {}, svg);
    var clipId = svg.getAttribute("data-clip");
    var cp = el("clipPath", {id: clipId}, defs);
    el("rect", {x: M.l, y: M.t, width: w, height: ht}, cp);
    for (var i = 0; i < colours.length; i++) {
      var mk = el("marker", {id: clipId + "-head-" + i, viewBox: "0 0 10 10", refX: 9,
        refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse"}, defs);
      el("path", {d: "M0,0 L10,5 L0,10 z", fill: colours[i]}, mk);
    }
    el("rect", {x: M.l, y: M.t, width: w, height: ht, fill: "#fff", stroke: "#999"}, svg);
    var step = niceStep(2 * h), d = decimals(step);
    for (var t = Math.ceil((cx - h) / step) * step; t <= cx + h + 1e-9; t += step) {
      el("line", {x1: sx(t), x2: sx(t), y1: M.t, y2: M.t + ht, stroke: "#eee"}, svg);
      var lx = el("text", {x: sx(t), y: M.t + ht + 16, "text-anchor": "middle",
        "font-size": 13, fill: "#333"}, svg);
      lx.textContent = fmt(t, d);
    }
    for (t = Math.ceil((cy - h) / step) * step; t <= cy + h + 1e-9; t += step) {
      el("line", {x1: M.l, x2: M.l + w, y1: sy(t), y2: sy(t), stroke: "#eee"}, svg);
      var ly = el("text", {x: M.l - 5, y: sy(t) + 4, "text-anchor": "end",
        "font-size": 13, fill: "#333"}, svg);
      ly.textContent = fmt(t, d);
    }
    var tt = el("text", {x: M.l + w / 2, y: 19, "text-anchor": "middle", "font-size": 15,
      "font-weight": 600, fill: "#222"}, svg);
    tt.textContent = title;
    var xl = el("text", {x: M.l + w / 2, y: SIZE - 6, "text-anchor": "middle",
      "font-size": 14, fill: "#333"}, svg);
    xl.textContent = xlabel;
    var yl = el("text", {x: 14, y: M.t + ht / 2, "text-anchor": "middle", "font-size": 14,
      fill: "#333", transform: "rotate(-90 14 " + (M.t + ht / 2) + ")"}, svg);
    yl.textContent = "z\\u2082 (dimensionless)";
    var g = el("g", {"clip-path": "url(#" + clipId + ")"}, svg);
    return {sx: sx, sy: sy, g: g, d: d, mk: clipId};
  }
  function arrow(f, a, b, i, dashed) {
    var x1 = f.sx(a[0]), y1 = f.sy(a[1]), x2 = f.sx(b[0]), y2 = f.sy(b[1]);
    var c = dashed ? "#555" : colours[i % colours.length];
    var attrs = {x1: x1, y1: y1, x2: x2, y2: y2, stroke: c, "stroke-width": dashed ? 1.6 : 2.6};
    if (dashed) { attrs["stroke-dasharray"] = "5 4"; }
    if (!dashed && Math.hypot(x2 - x1, y2 - y1) > 9) {
      attrs["marker-end"] = "url(#" + f.mk + "-head-" + (i % colours.length) + ")";
    }
    el("line", attrs, f.g);
  }
  function dots(f, pts, fill, r, opacity) {
    for (var k = 0; k < pts.length; k++) {
      el("circle", {cx: f.sx(pts[k][0]), cy: f.sy(pts[k][1]), r: r, fill: fill,
        "fill-opacity": opacity}, f.g);
    }
  }
  function star(f, p) {
    var cx = f.sx(p[0]), cy = f.sy(p[1]), pts = [];
    for (var k = 0; k < 10; k++) {
      var rad = k % 2 ? 3.6 : 9, a = Math.PI / 2 + k * Math.PI / 5;
      pts.push((cx + rad * Math.cos(a)).toFixed(2) + "," + (cy - rad * Math.sin(a)).toFixed(2));
    }
    el("polygon", {points: pts.join(" "), fill: "#111"}, f.g);
  }
  function halfWidth(cb) {
    var m0 = 0, m1 = 0, h = 0;
    for (var k = 0; k < cb.length; k++) { m0 += cb[k][0] / cb.length; m1 += cb[k][1] / cb.length; }
    for (k = 0; k < cb.length; k++) {
      h = Math.max(h, Math.abs(cb[k][0] - m0), Math.abs(cb[k][1] - m1));
    }
    return h > 0 ? 1.25 * h : 1;
  }
  function shifted(cb, s) {
    return cb.map(function (e) { return [s[0] + e[0], s[1] + e[1]]; });
  }
  // Self-check: the JavaScript encoder must give the codes Python computed.
  var bad = [];
  for (var c = 0; c < data.check.points.length; c++) {
    var got = rvqEncode(data.check.points[c], books, books.length);
    if (got.join(",") !== data.check.codes[c].join(",")) {
      bad.push(vec(data.check.points[c], 4) + ": " + got.join(",") + " != " +
        data.check.codes[c].join(","));
    }
  }
  if (bad.length) {
    q("codes").textContent = "error";
    q("status").textContent = "The explorer's encoder disagrees with rvq_encode at " +
      bad.length + " check points, e.g. " + bad[0];
    q("status").className = "rvqx-error";
    throw new Error("rvq explorer " + uid + ": encoder disagrees with rvq_encode: " + bad[0]);
  }
  var inZ1 = q("z1"), inZ2 = q("z2"), inNq = q("nq");
  var left = q("view-all"), right = q("view-zoom");
  function render() {
    var z = [parseFloat(inZ1.value), parseFloat(inZ2.value)];
    var nq = parseInt(inNq.value, 10);
    q("z1-value").textContent = fmt(z[0], data.zdec);
    q("z2-value").textContent = fmt(z[1], data.zdec);
    q("nq-value").textContent = String(nq);
    var codes = rvqEncode(z, books, nq), starts = [[0, 0]];
    for (var s = 0; s < nq; s++) {
      var e = books[s][codes[s]], p = starts[s];
      starts.push([p[0] + e[0], p[1] + e[1]]);
    }
    var zhat = starts[nq], err = Math.pow(z[0] - zhat[0], 2) + Math.pow(z[1] - zhat[1], 2);
    // Left: the whole plane with stage 1's codewords.
    var fa = frame(left, data.view[0], data.view[1], data.view[2],
      "All stages, at stage 1's scale", "z\\u2081 (dimensionless)");
    dots(fa, books[0], "#9a9a9a", 3.2, 1);
    for (s = 0; s < nq; s++) { arrow(fa, starts[s], starts[s + 1], s, false); }
    star(fa, z);
    // Right: zoom on the last stage used (or, with one stage, on what stage 2 refines).
    var k = nq, title;
    if (nq === 1 && books.length > 1) {
      k = 2;
      title = "Zoom: what stage 2 would fix";
    } else {
      title = "Zoom on stage " + k;
    }
    var base = starts[k - 1], h = halfWidth(books[k - 1]);
    var fb = frame(right, base[0], base[1], h, title, "z\\u2081 (dimensionless)");
    dots(fb, shifted(books[k - 1], base), "#9a9a9a", 3.2, k > nq ? 0.55 : 1);
    for (s = 0; s < nq; s++) { arrow(fb, starts[s], starts[s + 1], s, false); }
    arrow(fb, zhat, z, 0, true);
    star(fb, z);
    // Readout.
    q("codes").textContent = codes.join(", ");
    var cw = q("codewords");
    while (cw.firstChild) { cw.removeChild(cw.firstChild); }
    for (s = 0; s < nq; s++) {
      if (s) { cw.appendChild(document.createTextNode(" + ")); }
      var sp = document.createElement("span");
      sp.style.color = colours[s % colours.length];
      sp.style.fontWeight = "600";
      sp.textContent = vec(books[s][codes[s]], 5);
      cw.appendChild(sp);
    }
    q("zhat").textContent = vec(zhat, 6);
    q("error").textContent = err === 0 ? "0" : String(Number(err.toPrecision(3)));
    var terms = [], bits = 0, uniform = true;
    for (s = 0; s < nq; s++) {
      bits += Math.log2(books[s].length);
      terms.push("log\\u2082 " + books[s].length);
      if (books[s].length !== books[0].length) { uniform = false; }
    }
    var how = uniform ? nq + " \\u00d7 log\\u2082 " + books[0].length : terms.join(" + ");
    q("bits").textContent = how + " = " + fmt(bits, bits < 10 ? 2 : 1) + " bits";
  }
  inZ1.addEventListener("input", render);
  inZ2.addEventListener("input", render);
  inNq.addEventListener("input", render);
  inZ1.addEventListener("change", render);
  inZ2.addEventListener("change", render);
  inNq.addEventListener("change", render);
  render();
  q("status").textContent = "";
})();
"""


def grid_codebook(
    spacing: float, center: Sequence[float] = (0.0, 0.0), size: int = 5
) -> np.ndarray:
    """A ``size x size`` grid of 2-D codewords with the given spacing around ``center``.

    The codewords are ordered by their first coordinate, then their second:
    ``[[c0 - 2s, c1 - 2s], [c0 - 2s, c1 - s], ...]`` for ``size = 5``.

    Parameters
    ----------
    spacing : float
        Distance between neighbouring codewords (> 0).
    center : sequence of two floats
        The centre of the grid.
    size : int
        Codewords per side (odd, so that the centre is a codeword).

    Returns
    -------
    numpy.ndarray
        ``(size**2, 2)`` float64 codebook.

    Raises
    ------
    ValueError
        If ``spacing`` is not positive and finite, ``center`` is not two finite
        numbers, or ``size`` is not an odd positive integer.
    """
    spacing = float(spacing)
    if not (math.isfinite(spacing) and spacing > 0):
        raise ValueError(f"spacing must be a positive finite number, got {spacing}")
    c = np.asarray(center, dtype=float)
    if c.shape != (2,) or not np.all(np.isfinite(c)):
        raise ValueError(f"center must be two finite numbers, got {center!r}")
    if isinstance(size, bool) or not isinstance(size, int) or size < 1 or size % 2 == 0:
        raise ValueError(f"size must be an odd positive integer, got {size!r}")
    half = size // 2
    ticks = spacing * np.arange(-half, half + 1)
    return np.array([[a, b] for a in ticks for b in ticks]) + c


def book_grid_codebooks() -> list[np.ndarray]:
    """The four grid codebooks of chapter 6's explorer.

    Stage 1 is a 5 x 5 grid of spacing 2 centred on ``(6, 6)`` (so ``[8, 6]`` is a
    codeword); stage 2 has spacing 0.5 around the origin (so ``[0.5, 0.5]`` is one);
    every further stage is 4 times finer (0.125, then 0.03125). A grid of spacing ``s``
    leaves an error of at most ``s / 2`` per coordinate, which the next grid, of
    half-width ``2 s / 4 = s / 2``, is sized to cover.

    Returns
    -------
    list of numpy.ndarray
        Four ``(25, 2)`` codebooks.
    """
    return [grid_codebook(2.0, (6.0, 6.0))] + [grid_codebook(s) for s in (0.5, 0.125, 0.03125)]


def _check_books(codebooks: Any) -> list[np.ndarray]:
    if isinstance(codebooks, np.ndarray) and codebooks.ndim == 3:
        codebooks = list(codebooks)
    if not isinstance(codebooks, (list, tuple)) or not codebooks:
        raise TypeError(
            "codebooks must be a non-empty list of (K, 2) arrays, one per stage, "
            f"got {type(codebooks).__name__}"
        )
    books = []
    for i, cb in enumerate(codebooks):
        if hasattr(cb, "detach"):
            cb = cb.detach().cpu().numpy()
        try:
            arr = np.asarray(cb, dtype=float)
        except (TypeError, ValueError):
            raise TypeError(f"codebooks[{i}] must be a numeric (K, 2) array") from None
        if arr.ndim != 2 or arr.shape[1] != 2 or arr.shape[0] < 1:
            raise ValueError(
                f"codebooks[{i}] must have shape (K, 2) with K >= 1 (the explorer is 2-D), "
                f"got {arr.shape}"
            )
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"codebooks[{i}] contains NaN or infinite values")
        books.append(arr)
    return books


def _check_points(
    books: list[np.ndarray], z_range: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Points at which the widget checks its encoder: random ones and exact ties."""
    (lo0, hi0), (lo1, hi1) = z_range
    pts = [np.column_stack([rng.uniform(lo0, hi0, 40), rng.uniform(lo1, hi1, 40)])]
    # midpoints between stage-1 codewords and those points refined by later stages'
    # midpoints: exact ties on grid codebooks, ordinary points otherwise
    c1 = books[0]
    mids = (c1[:, None, :] + c1[None, :, :]) / 2
    mids = mids.reshape(-1, 2)
    inside = mids[
        (mids[:, 0] >= lo0) & (mids[:, 0] <= hi0) & (mids[:, 1] >= lo1) & (mids[:, 1] <= hi1)
    ]
    if len(inside):
        pts.append(inside[rng.permutation(len(inside))[:40]])
    return np.concatenate(pts)


def explorer_html(
    codebooks: Any,
    *,
    z: Sequence[float] = (8.37, 6.41),
    n_q: int = 2,
    z_range: Sequence[Sequence[float]] | None = None,
    step: float = 0.01,
    title: str = "Residual VQ explorer: move z, change the number of stages",
) -> str:
    """The HTML of the explorer widget (see :func:`rvq_explorer`), as a string.

    Parameters
    ----------
    codebooks : list of array_like
        One ``(K_s, 2)`` codebook per stage (sizes may differ).
    z : sequence of two floats
        The initial input; it must lie in ``z_range``.
    n_q : int
        The initial number of stages, ``1..len(codebooks)``.
    z_range : ((lo1, hi1), (lo2, hi2)), optional
        Slider ranges; by default stage 1's bounding box widened by an eighth of its
        size on each side.
    step : float
        Slider step (> 0).
    title : str
        Shown above the controls.

    Returns
    -------
    str
        A ``<div>`` with its style, data and script; self-contained.

    Raises
    ------
    TypeError, ValueError
        On codebooks that are not 2-D ``(K, 2)`` arrays, an ``n_q`` out of range, a
        ``z`` outside ``z_range``, a non-positive ``step``, or an empty range.
    """
    books = _check_books(codebooks)
    if isinstance(n_q, bool) or not isinstance(n_q, (int, np.integer)):
        raise TypeError(f"n_q must be an int, got {type(n_q).__name__}")
    if not 1 <= int(n_q) <= len(books):
        raise ValueError(f"n_q must be between 1 and {len(books)} (the stages given), got {n_q}")
    step = float(step)
    if not (math.isfinite(step) and step > 0):
        raise ValueError(f"step must be a positive finite number, got {step}")
    if z_range is None:
        lo, hi = books[0].min(axis=0), books[0].max(axis=0)
        pad = np.maximum((hi - lo) / 8, step)
        rng_ = np.column_stack([lo - pad, hi + pad])
    else:
        rng_ = np.asarray(z_range, dtype=float)
        if rng_.shape != (2, 2) or not np.all(np.isfinite(rng_)):
            raise ValueError(f"z_range must be ((lo1, hi1), (lo2, hi2)), got {z_range!r}")
    if np.any(rng_[:, 0] >= rng_[:, 1]):
        raise ValueError(f"z_range must have lo < hi on both axes, got {rng_.tolist()}")
    zz = np.asarray(z, dtype=float)
    if zz.shape != (2,) or not np.all(np.isfinite(zz)):
        raise ValueError(f"z must be two finite numbers, got {z!r}")
    if np.any(zz < rng_[:, 0]) or np.any(zz > rng_[:, 1]):
        raise ValueError(f"z = {zz.tolist()} lies outside z_range {rng_.tolist()}")

    uid = "rvqx-" + uuid.uuid4().hex[:12]
    check_pts = _check_points(books, rng_, np.random.default_rng(0))
    check_codes = rvq_encode(check_pts, books)
    codes0 = rvq_encode(zz, books, n_q=int(n_q))
    bits0 = sum(math.log2(len(b)) for b in books[: int(n_q)])
    # the left panel: stage 1's codewords, the origin and the slider range, squared
    pts = np.vstack([books[0], np.zeros((1, 2)), rng_.T])
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    centre, half = (lo + hi) / 2, 0.53 * float(np.max(hi - lo))
    zdec = max(0, -math.floor(math.log10(step) + 1e-9))
    data = {
        "uid": uid,
        "books": [b.tolist() for b in books],
        "colours": _COLOURS,
        "view": [float(centre[0]), float(centre[1]), half],
        "zdec": zdec,
        "check": {"points": check_pts.tolist(), "codes": check_codes.tolist()},
    }
    payload = json.dumps(data).replace("</", "<\\/")
    script = _SCRIPT.replace("RVQX_ID", uid).replace("GREEDY", GREEDY_RVQ_JS.replace("\n", "\n  "))

    def slider(
        role: str, label: str, aria: str, lo_: float, hi_: float, st: float, value: float
    ) -> str:
        if role == "nq":
            lo_, hi_, st, v, shown = int(lo_), int(hi_), int(st), str(int(value)), str(int(value))
        else:
            lo_, hi_, st, v = float(lo_), float(hi_), float(st), repr(float(value))
            shown = f"{value:.{zdec}f}"
        return (
            f'<label>{label} <input type="range" data-role="{role}" min="{lo_!r}" '
            f'max="{hi_!r}" step="{st!r}" value="{v}" aria-label="{aria}">'
            f'<output data-role="{role}-value">{shown}</output></label>'
        )

    n_books = len(books)
    k_text = ", ".join(str(len(b)) for b in books)
    controls = "".join(
        [
            slider("z1", "z\u2081", "first coordinate of z", *rng_[0], step, zz[0]),
            slider("z2", "z\u2082", "second coordinate of z", *rng_[1], step, zz[1]),
            slider("nq", "stages n<sub>q</sub>", "number of stages", 1, n_books, 1, n_q),
        ]
    )
    codes_text = ", ".join(map(str, codes0.tolist()))
    bits_text = f"{int(n_q)} \u00d7 log\u2082 {len(books[0])} = {bits0:.3g} bits"
    if len({len(b) for b in books[: int(n_q)]}) > 1:
        terms = " + ".join(f"log\u2082 {len(b)}" for b in books[: int(n_q)])
        bits_text = f"{terms} = {bits0:.3g} bits"
    return f"""\
<div class="rvqx tex2jax_ignore mathjax_ignore" id="{uid}" data-rvq-explorer="">
<style>{_CSS}</style>
<div class="rvqx-title">{_html.escape(title)}</div>
<div class="rvqx-controls">{controls}</div>
<div class="rvqx-panels">
<svg data-role="view-all" data-clip="{uid}-clip-a" viewBox="0 0 340 340"
 role="img" aria-label="all stages as arrows"></svg>
<svg data-role="view-zoom" data-clip="{uid}-clip-b" viewBox="0 0 340 340"
 role="img" aria-label="zoom on the last stage"></svg>
</div>
<div class="rvqx-readout">
<div>indices sent (k\u2081, k\u2082, \u2026): <b data-role="codes">{codes_text}</b>
 &nbsp;\u00b7&nbsp; bits: <b data-role="bits">{bits_text}</b></div>
<div>chosen codewords: <span data-role="codewords"></span></div>
<div>reconstruction \u1e91 = <span data-role="zhat"></span>
 &nbsp;\u00b7&nbsp; squared error \u2016z \u2212 \u1e91\u2016\u00b2 =
 <span data-role="error"></span></div>
<div class="rvqx-note">{n_books} stages of {k_text} codewords; greedy encoding, ties to
 the lowest index. Star: the input z; grey dots: the candidates of the stage shown;
 dashed line: the error left.</div>
<div data-role="status" class="rvqx-note">(The drawing needs JavaScript: in Jupyter, run the
 cell; a notebook that is not trusted shows only this text.)</div>
</div>
<script type="application/json" id="{uid}-data">{payload}</script>
<script>{script}</script>
</div>
"""


def rvq_explorer(codebooks: Any, **kwargs: Any) -> Any:
    """An interactive, kernel-free RVQ explorer for 2-D codebooks.

    The reader moves the input with two sliders and sets the number of stages; the
    widget draws each stage as an arrow (left: all stages at stage 1's scale; right: a
    zoom on the last stage, or with one stage on the error stage 2 would fix), lists
    the chosen indices and the bits, the codewords, the reconstruction and its squared
    error. Works in the rendered book and in Jupyter (see the module docstring).

    Parameters
    ----------
    codebooks : list of array_like
        One ``(K_s, 2)`` codebook per stage, e.g. :func:`book_grid_codebooks`.
    **kwargs
        ``z``, ``n_q``, ``z_range``, ``step``, ``title``: see :func:`explorer_html`.

    Returns
    -------
    IPython.display.HTML
        Display it (the last expression of a cell) to show the widget.

    Raises
    ------
    TypeError, ValueError
        As :func:`explorer_html`.
    ImportError
        If IPython is not installed.

    Examples
    --------
    >>> widget = rvq_explorer(book_grid_codebooks(), z=(8.37, 6.41), n_q=2)
    >>> widget.data.count("<svg")  # the two panels
    2
    """
    from IPython.display import HTML

    return HTML(explorer_html(codebooks, **kwargs))
