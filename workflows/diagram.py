"""A workflow definition laid out as a layered directed graph, for the admin pages' SVG.

Pure data in, pure data out: `layout(definition)` gives boxes (x, y, w, h) and edges
(polylines with their labels) that a template draws as inline SVG, so a diagram needs no
JavaScript and no renderer under the page's CSP.

How it is laid out (a small Sugiyama):

1. Layers, top to bottom: a state's layer is its shortest distance from `initial`;
   terminal states share the last layer; states nothing reaches (only in a broken draft)
   sit just above the terminals.
2. An edge going down more than one layer passes through a narrow placeholder in each
   layer between, so it never crosses a box; an edge going up (a back edge) does the same
   on its way up and is marked `back`; an edge within a layer dips into the gap below it;
   a state's edge to itself is a small loop on its right (`self`).
3. Within a layer, boxes are ordered by the mean position of their neighbours (a few
   sweeps down and up), which removes most crossings; each is then placed as near its
   neighbours above as its row allows, never overlapping the one to its left.
"""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass

from workflows.schema import Definition

BOX_W, BOX_H = 196, 66
DUMMY_W = 18  # the width a passing edge takes in a layer it crosses
GAP_X, GAP_Y = 52, 84  # between boxes of a row; between rows (edge labels live there)
MARGIN = 24
LOOP = 22  # how far a self-loop reaches right of its box (less than GAP_X)
MAX_LABEL = 24  # characters of a state's label shown in its box (the title has it all)
MAX_EDGE_LABEL = 30
SWEEPS = 4

Point = tuple[float, float]


@dataclass(frozen=True)
class Box:
    name: str
    label: str  # shortened to fit; `full_label` is the definition's
    full_label: str
    x: float
    y: float
    w: float
    h: float
    layer: int
    terminal: bool
    initial: bool

    @property
    def cx(self) -> float:
        return self.x + self.w / 2


@dataclass(frozen=True)
class Edge:
    source: str
    dest: str
    label: str  # the triggers from source to dest, comma-separated, shortened
    triggers: tuple[str, ...]
    points: tuple[Point, ...]
    kind: str  # "forward", "back", "same" (within a layer) or "self"
    label_at: Point

    @property
    def path(self) -> str:
        """The polyline as SVG `points`."""
        return " ".join(f"{x:.1f},{y:.1f}" for x, y in self.points)


@dataclass(frozen=True)
class Layout:
    width: float
    height: float
    boxes: tuple[Box, ...]
    edges: tuple[Edge, ...]

    def box(self, name: str) -> Box:
        for box in self.boxes:
            if box.name == name:
                return box
        raise KeyError(name)


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _layers(definition: Definition, succ: dict[str, list[str]]) -> dict[str, int]:
    """Shortest distance from `initial`; terminals last; the unreachable just above them."""
    distance = {definition.initial: 0}
    todo = deque([definition.initial])
    while todo:
        name = todo.popleft()
        for nxt in succ[name]:
            if nxt not in distance:
                distance[nxt] = distance[name] + 1
                todo.append(nxt)
    terminal = {s.name for s in definition.states if s.terminal}
    inner = [distance[n] for n in distance if n not in terminal]
    last = max(inner, default=-1) + 1
    stray = [s.name for s in definition.states if s.name not in distance and s.name not in terminal]
    if stray:
        last += 1
    layers: dict[str, int] = {}
    for state in definition.states:
        if state.terminal and state.name != definition.initial:
            layers[state.name] = last
        elif state.name in distance:
            layers[state.name] = distance[state.name]
        else:
            layers[state.name] = last - 1
    return layers


@dataclass
class _Chain:
    """One (source, dest) pair of the definition, through its placeholders."""

    source: str
    dest: str
    triggers: list[str]
    kind: str
    nodes: list[str]  # source, placeholders..., dest (top to bottom for back edges)


def _chains(
    definition: Definition, layer: dict[str, int], rows: dict[int, list[str]]
) -> list[_Chain]:
    pairs: dict[tuple[str, str], list[str]] = {}
    for spec in definition.transitions:
        for source in spec.source:
            if source in layer and spec.dest in layer:
                triggers = pairs.setdefault((source, spec.dest), [])
                if spec.trigger not in triggers:
                    triggers.append(spec.trigger)
    chains: list[_Chain] = []
    for (source, dest), triggers in pairs.items():
        top, bottom = layer[source], layer[dest]
        if source == dest:
            kind = "self"
        elif bottom > top:
            kind = "forward"
        elif bottom < top:
            kind, top, bottom = "back", bottom, top
        else:
            kind = "same"
        upper, lower = (dest, source) if kind == "back" else (source, dest)
        nodes = [upper]
        for depth in range(top + 1, bottom):
            dummy = f"\x00{len(chains)}:{depth}"  # never a state's name
            rows[depth].append(dummy)
            nodes.append(dummy)
        if kind != "self":
            nodes.append(lower)
        chains.append(_Chain(source, dest, triggers, kind, nodes))
    return chains


def _order(rows: dict[int, list[str]], chains: list[_Chain]) -> None:
    """Barycentre sweeps: each row sorted by its neighbours' mean position in the row above
    (going down) or below (going up)."""
    up: dict[str, list[str]] = {}
    down: dict[str, list[str]] = {}
    for chain in chains:
        for a, b in zip(chain.nodes, chain.nodes[1:], strict=False):
            down.setdefault(a, []).append(b)
            up.setdefault(b, []).append(a)
    depths = sorted(rows)
    for sweep in range(SWEEPS):
        going_down = sweep % 2 == 0
        order = depths[1:] if going_down else depths[-2::-1]
        for depth in order:
            ref = rows[depth - 1] if going_down else rows[depth + 1]
            index = {n: i for i, n in enumerate(ref)}
            links = up if going_down else down
            current = {n: i for i, n in enumerate(rows[depth])}
            keys = {
                n: (_barycentre(links.get(n, []), index, current[n]), current[n]) for n in current
            }
            rows[depth].sort(key=keys.__getitem__)


def _barycentre(neighbours: list[str], index: dict[str, int], otherwise: int) -> float:
    near = [index[n] for n in neighbours if n in index]
    return sum(near) / len(near) if near else float(otherwise)


def _place(
    rows: dict[int, list[str]], chains: list[_Chain], width_of: dict[str, float]
) -> dict[str, float]:
    """Centre x of every node: rows packed side by side first, then each row moved as near
    its neighbours above (going down) and below (going up) as its order allows; at last
    everything shifted so the leftmost node starts at the margin."""
    up: dict[str, list[str]] = {}
    down: dict[str, list[str]] = {}
    for chain in chains:
        for a, b in itertools.pairwise(chain.nodes):
            down.setdefault(a, []).append(b)
            up.setdefault(b, []).append(a)
    centre: dict[str, float] = {}
    for row in rows.values():
        centre.update(zip(row, _pack([0.0] * len(row), row, width_of), strict=True))
    depths = sorted(rows)
    for depths_in_turn, links in ((depths, up), (depths[::-1], down), (depths, up)):
        for depth in depths_in_turn:
            row = rows[depth]
            wanted = []
            for name in row:
                near = [centre[n] for n in links.get(name, [])]
                wanted.append(sum(near) / len(near) if near else centre[name])
            centre.update(zip(row, _pack(wanted, row, width_of), strict=True))
    left = min((centre[n] - width_of[n] / 2 for n in centre), default=MARGIN)
    return {n: x - left + MARGIN for n, x in centre.items()}


def _pack(wanted: list[float], row: list[str], width_of: dict[str, float]) -> list[float]:
    """Centres for `row`, in its order and never closer than GAP_X, as near `wanted` as
    possible (least squares): nodes pushed together form blocks placed at their mean."""
    offset = [0.0]
    for a, b in itertools.pairwise(row):
        offset.append(offset[-1] + width_of[a] / 2 + GAP_X + width_of[b] / 2)
    blocks: list[list[float]] = []  # [first index, sum of wanted - offset, count]
    for i, x in enumerate(wanted):
        block = [float(i), x - offset[i], 1.0]
        while blocks and blocks[-1][1] / blocks[-1][2] > block[1] / block[2]:
            last = blocks.pop()
            block = [last[0], last[1] + block[1], last[2] + block[2]]
        blocks.append(block)
    placed: list[float] = []
    for first, total, count in blocks:
        base = total / count
        placed += [base + offset[int(first) + k] for k in range(int(count))]
    return placed


def layout(definition: Definition) -> Layout:
    """Boxes and edges of `definition` (see the module's docstring)."""
    names = definition.state_names
    succ: dict[str, list[str]] = {n: [] for n in names}
    for spec in definition.transitions:
        for source in spec.source:
            if source in succ and spec.dest in succ and spec.dest not in succ[source]:
                succ[source].append(spec.dest)
    layer = _layers(definition, succ)
    rows: dict[int, list[str]] = {d: [] for d in range(max(layer.values(), default=0) + 1)}
    for name in names:
        rows[layer[name]].append(name)
    chains = _chains(definition, layer, rows)
    _order(rows, chains)
    width_of = {n: float(BOX_W if n in layer else DUMMY_W) for row in rows.values() for n in row}
    centre = _place(rows, chains, width_of)
    top = {d: float(MARGIN + d * (BOX_H + GAP_Y)) for d in rows}
    boxes: dict[str, Box] = {}
    for state in definition.states:
        x = centre[state.name] - BOX_W / 2
        boxes[state.name] = Box(
            name=state.name,
            label=_short(state.label, MAX_LABEL),
            full_label=state.label,
            x=x,
            y=top[layer[state.name]],
            w=BOX_W,
            h=BOX_H,
            layer=layer[state.name],
            terminal=state.terminal,
            initial=state.name == definition.initial,
        )
    edges = _route(chains, boxes, centre, top)
    right = max((b.x + b.w for b in boxes.values()), default=0.0)
    right = max([right, *(x for e in edges for x, _ in e.points)])
    bottom = max((b.y + b.h for b in boxes.values()), default=0.0)
    bottom = max([bottom, *(y for e in edges for _, y in e.points)])
    return Layout(
        width=right + LOOP + MARGIN,
        height=bottom + MARGIN,
        boxes=tuple(boxes.values()),
        edges=tuple(edges),
    )


def _ports(
    chains: list[_Chain], boxes: dict[str, Box], centre: dict[str, float]
) -> dict[tuple[str, int], float]:
    """Where each chain leaves and enters its boxes: spread along the bottom (out of an
    upper box) and the top (into a lower box), in the order of the other end's position."""
    bottom: dict[str, list[tuple[float, int]]] = {}
    topside: dict[str, list[tuple[float, int]]] = {}
    for i, chain in enumerate(chains):
        if chain.kind == "self":
            continue
        first, second = chain.nodes[0], chain.nodes[1]
        last, before = chain.nodes[-1], chain.nodes[-2]
        if chain.kind == "same":
            bottom.setdefault(first, []).append((centre[last], i))
            bottom.setdefault(last, []).append((centre[first], i))
            continue
        bottom.setdefault(first, []).append((centre[second], i))
        topside.setdefault(last, []).append((centre[before], i))
    ports: dict[tuple[str, int], float] = {}
    for side in (bottom, topside):
        for name, items in side.items():
            box = boxes[name]
            items.sort()
            for k, (_, i) in enumerate(items):
                x = box.x + box.w * (k + 1) / (len(items) + 1)
                ports[(name, i) if side is bottom else (name, -1 - i)] = x
    return ports


def _route(
    chains: list[_Chain],
    boxes: dict[str, Box],
    centre: dict[str, float],
    top: dict[int, float],
) -> list[Edge]:
    ports = _ports(chains, boxes, centre)
    edges = []
    for i, chain in enumerate(chains):
        label = _short(", ".join(chain.triggers), MAX_EDGE_LABEL)
        points: list[Point]
        if chain.kind == "self":
            box = boxes[chain.source]
            right, y1, y2 = box.x + box.w, box.y + box.h * 0.3, box.y + box.h * 0.7
            points = [(right, y1), (right + LOOP, y1), (right + LOOP, y2), (right, y2)]
            label_at = (right + 2, box.y - 6)  # above the loop, in the gap over the row
        elif chain.kind == "same":
            a, b = boxes[chain.source], boxes[chain.dest]
            dip = a.y + a.h + GAP_Y * 0.35
            start = (ports[(a.name, i)], a.y + a.h)
            end = (ports[(b.name, i)], b.y + b.h)
            points = [start, (start[0], dip), (end[0], dip), end]
            label_at = ((start[0] + end[0]) / 2, dip - 4)
        else:
            upper, lower = boxes[chain.nodes[0]], boxes[chain.nodes[-1]]
            points = [(ports[(upper.name, i)], upper.y + upper.h)]
            for depth, dummy in enumerate(chain.nodes[1:-1], start=upper.layer + 1):
                points += [(centre[dummy], top[depth]), (centre[dummy], top[depth] + BOX_H)]
            points.append((ports[(lower.name, -1 - i)], lower.y))
            if chain.kind == "back":
                points.reverse()  # drawn from its source, below, up to its dest
            (x1, y1), (x2, y2) = points[0], points[1]
            share = 0.5 if chain.kind == "back" else 0.35
            label_at = (x1 + (x2 - x1) * share, y1 + (y2 - y1) * share)
        edges.append(
            Edge(
                chain.source,
                chain.dest,
                label,
                tuple(chain.triggers),
                tuple(points),
                chain.kind,
                label_at,
            )
        )
    return edges
