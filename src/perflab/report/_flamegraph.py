"""Flame graphs as standalone SVG, and Brendan Gregg's differential flame graph.

Why not py-spy's own SVG: py-spy writes one format per recording and draws
no differences; drawing from the stacks gives the flame graph, the speedscope
file and the differential graph from one recording.

Layout as flamegraph.pl's: the root at the bottom, a frame's width its share
of the samples, children sorted by name. In the differential graph the widths
are the new profile's; a frame is red where its share of the samples grew
against the base and blue where it shrank, the stronger the more it changed,
and white where it did not (the base's stacks matched by function, not line).
Each frame's `<title>` is its tooltip. Frames narrower than `MIN_WIDTH_PX`
are left out, so a long profile stays a few hundred KiB.
"""

from __future__ import annotations

import html
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field

from perflab.measure._stacks import Stacks, function_key

__all__ = ["flamegraph_svg"]

WIDTH_PX = 1200
FRAME_PX = 16
MIN_WIDTH_PX = 0.5
# A share change of this many percentage points gets the full red or blue.
FULL_COLOUR_POINTS = 10.0


@dataclass
class _Node:
    name: str
    count: int = 0
    children: dict[str, _Node] = field(default_factory=dict)


def _tree(stacks: Stacks, key: object = None) -> _Node:
    root = _Node("all")
    for stack, count in stacks.items():
        node = root
        node.count += count
        for frame in stack:
            name = function_key(frame) if key else frame
            node = node.children.setdefault(name, _Node(name))
            node.count += count
    return root


def _walk(node: _Node, x: float, depth: int, path: tuple[str, ...]
          ) -> Iterator[tuple[_Node, float, int, tuple[str, ...]]]:
    yield node, x, depth, path
    for name in sorted(node.children):
        child = node.children[name]
        yield from _walk(child, x, depth + 1, (*path, function_key(name)))
        x += child.count


def _warm(name: str) -> str:
    h = zlib.crc32(name.encode())
    return f"rgb({205 + h % 50},{(h >> 8) % 180 + 40},{(h >> 16) % 55})"


def _diff_colour(delta_points: float) -> str:
    strength = min(abs(delta_points) / FULL_COLOUR_POINTS, 1.0)
    fade = int(255 * (1 - strength))
    return f"rgb(255,{fade},{fade})" if delta_points > 0 else f"rgb({fade},{fade},255)"


def _base_shares(base: Stacks) -> dict[tuple[str, ...], float]:
    tree, total = _tree(base, key=True), sum(base.values()) or 1
    return {path: node.count / total for node, _, _, path in _walk(tree, 0, 0, ())}


def flamegraph_svg(stacks: Stacks, title: str, base: Stacks | None = None) -> str:
    # A differential graph matches frames by function, so both sides are drawn by function.
    root = _tree(stacks, key=base is not None)
    total = root.count or 1
    scale = WIDTH_PX / total
    old = _base_shares(base) if base is not None else None
    boxes = [b for b in _walk(root, 0, 0, ()) if b[0].count * scale >= MIN_WIDTH_PX]
    depth = max((d for _, _, d, _ in boxes), default=0) + 1
    height = depth * FRAME_PX + 50
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH_PX + 20}" '
           f'height="{height}" viewBox="0 0 {WIDTH_PX + 20} {height}" '
           'font-family="Verdana, sans-serif" font-size="11">',
           f'<text x="{(WIDTH_PX + 20) / 2}" y="20" text-anchor="middle" font-size="15">'
           f'{html.escape(title)}</text>']
    for node, x, d, path in boxes:
        share = node.count / total
        tip = f"{node.name} ({node.count} samples, {share * 100:.2f}%)"
        if old is not None:
            delta = (share - old.get(path, 0.0)) * 100
            colour = _diff_colour(delta)
            tip += f", {delta:+.2f} points against the base"
        else:
            colour = _warm(node.name)
        px, py, w = 10 + x * scale, height - (d + 1) * FRAME_PX - 10, node.count * scale
        label = node.name if w > 7 * len(node.name) else node.name[: max(int(w / 7) - 2, 0)]
        text = (f'<text x="{px + 3:.1f}" y="{py + 11.5:.1f}">{html.escape(label)}'
                f'{".." if label != node.name and label else ""}</text>' if label else "")
        out.append(f'<g><title>{html.escape(tip)}</title><rect x="{px:.1f}" y="{py:.1f}" '
                   f'width="{w:.1f}" height="{FRAME_PX - 1}" fill="{colour}" rx="2"/>{text}</g>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
