"""A world map of risky sign-ins by country, drawn server-side as inline SVG.

The country shapes come from the world map that the pygal_maps_world package ships (one
SVG path group per ISO 3166 country code). They are read once per process and flattened
to whole-unit polylines (curve control points dropped, transforms applied), which keeps the
page small; the map needs no script, no CDN and no tile server.
"""

from __future__ import annotations

import importlib.util
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from functools import cache
from pathlib import Path

from markupsafe import Markup, escape

from .i18n import ngettext

SVG_NS = "{http://www.w3.org/2000/svg}"
_TOKEN = re.compile(r"[MmLlCcSsQqTtAaHhVvZz]|[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
# Numbers each command takes per segment; the segment's end point is always its last two.
_ARITY = {"m": 2, "l": 2, "c": 6, "s": 4, "q": 4, "t": 2, "a": 7, "h": 1, "v": 1, "z": 0}
# No risky sign-in, then four shades from few to most.
EMPTY = "#e1e3ea"
SHADES = ("#f4b6a8", "#e8765c", "#c8412b", "#8a1c0f")

Matrix = tuple[float, float, float, float, float, float]
IDENTITY: Matrix = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)
# Coordinates are rounded to this many source units: a map about 2500 units wide shown at most
# about 1000 px wide loses nothing visible, and the page stays small.
GRID = 2


def _parse_transform(text: str | None) -> Matrix:
    if not text:
        return IDENTITY
    numbers = [float(n) for n in re.findall(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?", text)]
    if text.startswith("matrix") and len(numbers) == 6:
        return (numbers[0], numbers[1], numbers[2], numbers[3], numbers[4], numbers[5])
    if text.startswith("translate") and numbers:
        return (1.0, 0.0, 0.0, 1.0, numbers[0], numbers[1] if len(numbers) > 1 else 0.0)
    raise ValueError(f"unsupported transform {text!r}")


def _compose(outer: Matrix, inner: Matrix) -> Matrix:
    a, b, c, d, e, f = outer
    a2, b2, c2, d2, e2, f2 = inner
    return (
        a * a2 + c * b2,
        b * a2 + d * b2,
        a * c2 + c * d2,
        b * c2 + d * d2,
        a * e2 + c * f2 + e,
        b * e2 + d * f2 + f,
    )


def _subpaths(d: str) -> Iterator[list[tuple[float, float]]]:
    """The on-curve points of each subpath of an SVG path (curves become straight lines)."""
    tokens = _TOKEN.findall(d)
    x = y = start_x = start_y = 0.0
    points: list[tuple[float, float]] = []
    command = ""
    i = 0
    while i < len(tokens):
        if tokens[i].isalpha():
            command = tokens[i]
            i += 1
            if command in "zZ":
                if points:
                    yield points
                points = []
                x, y = start_x, start_y
                continue
        lower = command.lower()
        relative = command.islower()
        args = [float(t) for t in tokens[i : i + _ARITY[lower]]]
        i += _ARITY[lower]
        if lower == "h":
            x = x + args[0] if relative else args[0]
        elif lower == "v":
            y = y + args[0] if relative else args[0]
        else:
            nx, ny = args[-2], args[-1]
            x, y = (x + nx, y + ny) if relative else (nx, ny)
        if lower == "m":
            if points:
                yield points
            points = [(x, y)]
            start_x, start_y = x, y
            # Further pairs after a moveto are line segments.
            command = "l" if relative else "L"
        else:
            points.append((x, y))
    if points:
        yield points


def _walk(node: ET.Element, matrix: Matrix) -> Iterator[tuple[str, Matrix, ET.Element]]:
    for child in node:
        inner = _compose(matrix, _parse_transform(child.get("transform")))
        if child.tag == f"{SVG_NS}g":
            yield from _walk(child, inner)
        else:
            yield child.tag, inner, child


def _source() -> bytes:
    """The package's world map file, found without importing the package: importing it
    imports pygal, which installs an import hook of its own for every later import."""
    spec = importlib.util.find_spec("pygal_maps_world")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the pygal_maps_world package is missing")
    return (Path(next(iter(spec.submodule_search_locations))) / "worldmap.svg").read_bytes()


@cache
def shapes() -> tuple[str, dict[str, str]]:
    """The map's viewBox and, per lower-case country code, its outline as SVG path data."""
    root = ET.fromstring(_source())
    found: dict[str, str] = {}
    for group in root.iter(f"{SVG_NS}g"):
        classes = (group.get("class") or "").split()
        if "country" not in classes:
            continue
        code = classes[0]
        parts: list[str] = []
        for tag, (a, b, c, d, e, f), element in _walk(group, IDENTITY):
            if tag == f"{SVG_NS}circle":
                # Small countries are marked with a dot as well as their outline.
                cx, cy = float(element.get("cx", 0)), float(element.get("cy", 0))
                dot_x = round((a * cx + c * cy + e) / GRID)
                dot_y = round((b * cx + d * cy + f) / GRID)
                parts.append(f"M{dot_x - 2} {dot_y}a2 2 0 1 0 4 0a2 2 0 1 0-4 0")
                continue
            if tag != f"{SVG_NS}path":
                continue
            for points in _subpaths(element.get("d", "")):
                flat: list[tuple[int, int]] = []
                for px, py in points:
                    point = (
                        round((a * px + c * py + e) / GRID),
                        round((b * px + d * py + f) / GRID),
                    )
                    if not flat or flat[-1] != point:
                        flat.append(point)
                if len(set(flat)) >= 3:
                    parts.append(_relative(flat))
        if parts:
            found[code] = found.get(code, "") + "".join(parts)
    x, y, width, height = (float(n) / GRID for n in (root.get("viewBox") or "0 0 1000 500").split())
    return f"{x:g} {y:g} {width:g} {height:g}", found


def _relative(points: list[tuple[int, int]]) -> str:
    """A closed polyline as compact path data: a moveto, then relative steps."""
    (x, y), rest = points[0], points[1:]
    steps = []
    for px, py in rest:
        steps.append(f"{px - x} {py - y}".replace(" -", "-"))
        x, y = px, py
    return f"M{points[0][0]} {points[0][1]}l" + " ".join(steps).replace(" -", "-") + "z"


def shade(count: int, peak: int) -> str:
    """The fill for a country with `count` risky sign-ins when the busiest has `peak`."""
    if count <= 0 or peak <= 0:
        return EMPTY
    return SHADES[min(len(SHADES) - 1, (count * len(SHADES) - 1) // peak)]


def world_map(counts: dict[str, int], label: str) -> Markup:
    """The SVG map: each country filled by its share of `counts` (upper-case ISO codes)."""
    view_box, outlines = shapes()
    by_code = {code.lower(): n for code, n in counts.items() if n > 0}
    peak = max(by_code.values(), default=0)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="{view_box}" '
        f'width="100%" aria-label="{escape(label)}" class="world-map">'
        f"<title>{escape(label)}</title>"
    ]
    quiet = [d for code, d in outlines.items() if code not in by_code]
    parts.append(f'<path fill="{EMPTY}" stroke="#ffffff" stroke-width=".5" d="{"".join(quiet)}"/>')
    # Countries with risky sign-ins last, so their outline is drawn on top.
    for code in sorted(by_code, key=lambda c: by_code[c]):
        if code not in outlines:
            continue
        n = by_code[code]
        tooltip = ngettext(
            "%(country)s: %(num)d risky sign-in",
            "%(country)s: %(num)d risky sign-ins",
            n,
            country=code.upper(),
        )
        parts.append(
            f'<path data-country="{escape(code.upper())}" fill="{shade(n, peak)}" '
            f'stroke="#5b5e6b" stroke-width=".6" d="{outlines[code]}">'
            f"<title>{escape(tooltip)}</title></path>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))
