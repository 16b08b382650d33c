"""The workflow diagram's layout: layers, no overlapping boxes, every edge on its boxes."""

from __future__ import annotations

import itertools
import random
from typing import Any

import pytest

from workflows.definitions import load_shipped
from workflows.diagram import Box, Edge, Layout, layout
from workflows.schema import parse_definition


def generated(states: int = 20, seed: int = 11) -> dict[str, Any]:
    """A valid definition of `states` states: a main line with branches, skips ahead, back
    edges, a self-loop and three terminals."""
    rng = random.Random(seed)
    names = [f"S{i:02d}" for i in range(states - 3)]
    terminals = ["DONE", "DROPPED", "FAILED"]
    transitions: list[dict[str, Any]] = []

    def add(trigger: str, source: str, dest: str) -> None:
        transitions.append(
            {"trigger": trigger, "source": [source], "dest": dest, "roles": ["admin"]}
        )

    for i, name in enumerate(names[:-1]):
        add(f"next_{i}", name, names[i + 1])
        if i % 3 == 0 and i + 3 < len(names):
            add(f"skip_{i}", name, names[i + 3])
        if i % 4 == 2:
            add(f"back_{i}", name, names[rng.randrange(0, i)])
        if i % 5 == 1:
            add(f"drop_{i}", name, "DROPPED")
    add("finish", names[-1], "DONE")
    add("fail", names[-1], "FAILED")
    add("again", names[5], names[5])
    return {
        "name": "big",
        "initial": names[0],
        "states": [
            {"name": n, "label": f"State number {n} with a long label", "team": "support",
             "sla_hours": 24, "terminal": False}
            for n in names
        ]
        + [{"name": n, "label": n.title(), "team": None, "terminal": True} for n in terminals],
        "transitions": transitions,
    }  # fmt: skip


def overlaps(a: Box, b: Box) -> bool:
    return a.x < b.x + b.w and b.x < a.x + a.w and a.y < b.y + b.h and b.y < a.y + a.h


def on_border(box: Box, point: tuple[float, float]) -> bool:
    x, y = point
    inside_x = box.x - 0.01 <= x <= box.x + box.w + 0.01
    inside_y = box.y - 0.01 <= y <= box.y + box.h + 0.01
    on_side = min(abs(x - box.x), abs(x - box.x - box.w)) < 0.01
    on_top_or_bottom = min(abs(y - box.y), abs(y - box.y - box.h)) < 0.01
    return inside_x and inside_y and (on_side or on_top_or_bottom)


def crosses(edge: Edge, box: Box) -> bool:
    """Some segment of `edge` runs through the inside of `box` (its own ends excepted)."""
    for (x1, y1), (x2, y2) in itertools.pairwise(edge.points):
        for step in range(1, 20):
            t = step / 20
            x, y = x1 + (x2 - x1) * t, y1 + (y2 - y1) * t
            if box.x + 1 < x < box.x + box.w - 1 and box.y + 1 < y < box.y + box.h - 1:
                return True
    return False


def drawing_problems(result: Layout) -> list[str]:
    """Everything wrong with a drawing: overlapping boxes, edges off their boxes or through
    others, anything outside the canvas. Empty when the diagram reads."""
    problems = [
        f"{a.name} overlaps {b.name}"
        for a, b in itertools.combinations(result.boxes, 2)
        if overlaps(a, b)
    ]
    for edge in result.edges:
        name = f"{edge.source}->{edge.dest}"
        if not on_border(result.box(edge.source), edge.points[0]):
            problems.append(f"{name} does not start on its box")
        if not on_border(result.box(edge.dest), edge.points[-1]):
            problems.append(f"{name} does not end on its box")
        problems += [f"{name} crosses {box.name}" for box in result.boxes if crosses(edge, box)]
        if not all(0 <= x <= result.width and 0 <= y <= result.height for x, y in edge.points):
            problems.append(f"{name} leaves the canvas")
    for box in result.boxes:
        inside = box.x >= 0 and box.y >= 0
        if not (inside and box.x + box.w <= result.width and box.y + box.h <= result.height):
            problems.append(f"{box.name} leaves the canvas")
    return problems


def test_it_lays_out_twenty_states_without_overlaps_and_with_every_edge_on_its_boxes():
    definition = parse_definition(generated())
    result = layout(definition)

    assert len(result.boxes) == 20
    assert drawing_problems(result) == []
    pairs = {(s, t.dest) for t in definition.transitions for s in t.source}
    assert {(e.source, e.dest) for e in result.edges} == pairs
    assert {e.kind for e in result.edges} >= {"forward", "back", "self"}


@pytest.mark.parametrize("seed", range(8))
def test_it_keeps_boxes_and_edges_apart_for_other_shapes(seed):
    drawn = layout(parse_definition(generated(states=15 + seed, seed=seed)))
    assert drawing_problems(drawn) == []


def test_it_puts_states_in_layers_by_distance_and_terminals_last():
    result = layout(parse_definition(load_shipped("rma")))

    layers = {box.name: box.layer for box in result.boxes}
    assert layers["SUBMITTED"] == 0
    assert layers["VALIDATING"] == 1
    assert layers["APPROVED"] == 2
    assert layers["COMPLETED"] == layers["REJECTED"] == layers["CANCELLED"] == 10 - 1
    assert max(layers.values()) == layers["CANCELLED"]
    assert result.box("SUBMITTED").initial
    assert result.box("CANCELLED").terminal
    rows = {box.layer: box.y for box in result.boxes}
    assert sorted(rows.values()) == [rows[d] for d in sorted(rows)]
    assert drawing_problems(result) == []


def test_it_draws_a_self_loop_and_one_edge_per_pair_of_states_with_their_triggers():
    result = layout(parse_definition(load_shipped("rma")))

    loop = next(e for e in result.edges if e.source == e.dest)
    assert loop.kind == "self"
    assert loop.source == "PROCESSING"
    assert loop.label == "retry_refund"
    process = [e for e in result.edges if (e.source, e.dest) == ("DISPOSITION", "PROCESSING")]
    assert len(process) == 1
    assert process[0].triggers == ("process",)


def test_it_marks_back_edges_drawn_upwards():
    data = load_shipped("flash_sale")
    data["transitions"].append(
        {"trigger": "reschedule", "source": ["active"], "dest": "scheduled", "roles": ["admin"]}
    )
    result = layout(parse_definition(data))

    back = next(e for e in result.edges if e.triggers == ("reschedule",))
    assert back.kind == "back"
    assert back.points[0][1] == result.box("active").y  # leaves the top of its source
    assert back.points[-1][1] == result.box("scheduled").y + result.box("scheduled").h
    assert drawing_problems(result) == []


def test_it_shortens_long_labels_but_keeps_them_whole_for_the_title():
    data = load_shipped("flash_sale")
    data["states"][0]["label"] = "A very long label that goes on and on and on"
    box = layout(parse_definition(data)).box("scheduled")

    assert len(box.label) <= 24
    assert box.label.endswith("…")
    assert box.full_label == "A very long label that goes on and on and on"
