"""workflows.diff: a draft against the published version (issue 11)."""

from __future__ import annotations

import copy

from workflows.definitions import load_shipped
from workflows.diff import Change, diff_definitions


def test_it_finds_nothing_between_a_definition_and_its_copy():
    shipped = load_shipped("rma")
    diff = diff_definitions(shipped, copy.deepcopy(shipped))
    assert diff.empty


def test_it_lists_states_added_removed_and_changed_with_old_and_new_values():
    old = load_shipped("rma")
    new = copy.deepcopy(old)
    new["states"].append({"name": "AWAITING_INFO", "label": "Waiting", "team": "support"})
    new["states"][1]["sla_hours"] = 12
    new["states"][1]["team"] = "warehouse"
    del new["states"][10]  # REJECTED
    diff = diff_definitions(old, new)
    assert diff.states.added == ("AWAITING_INFO",)
    assert diff.states.removed == ("REJECTED",)
    [changed] = diff.states.changed
    assert changed.key == "VALIDATING"
    assert changed.changes == (Change("team", "support", "warehouse"), Change("sla_hours", 24, 12))
    assert diff.initial is None
    assert diff.transitions.empty


def test_it_tells_a_triggers_variants_apart_by_their_place():
    old = load_shipped("rma")
    new = copy.deepcopy(old)
    variants = [t for t in new["transitions"] if t["trigger"] == "process"]
    variants[1]["roles"] = ["finance", "admin"]
    ask = {"trigger": "ask_info", "source": "VALIDATING", "dest": "AWAITING_INFO", "roles": []}
    new["transitions"].append(ask)
    new["transitions"] = [t for t in new["transitions"] if t["trigger"] != "retry_refund"]
    diff = diff_definitions(old, new)
    assert diff.transitions.added == ("ask_info",)
    assert diff.transitions.removed == ("retry_refund",)
    [changed] = diff.transitions.changed
    assert changed.key == "process (2)"
    assert changed.changes == (Change("roles", ["finance"], ["finance", "admin"]),)


def test_it_treats_missing_lists_and_flags_as_empty_and_false():
    old = {"initial": "A", "states": [{"name": "A", "terminal": False}],
           "transitions": [{"trigger": "go", "source": ["A"], "dest": "A", "roles": ["admin"],
                            "guards": [], "confirm": False}]}  # fmt: skip
    go = {"trigger": "go", "source": "A", "dest": "A", "roles": ["admin"]}
    new = {"initial": "B", "states": [{"name": "A"}], "transitions": [go]}
    diff = diff_definitions(old, new)
    assert diff.initial == Change("initial", "A", "B")
    assert diff.states.empty
    assert diff.transitions.empty


def test_it_copes_with_a_malformed_draft():
    diff = diff_definitions(load_shipped("rma"), {"states": "nope", "transitions": [1, None]})
    assert len(diff.states.removed) == 12
    assert diff.transitions.added == ()  # only objects count: there are none
    assert "process (3)" in diff.transitions.removed
    assert len(diff.transitions.removed) == 16
    assert diff_definitions(None, None).empty
