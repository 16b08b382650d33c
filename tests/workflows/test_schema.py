"""Definition validation: every way an admin's edit can be broken is named, all at once."""

from __future__ import annotations

import copy
import json

import pytest

from workflows.definitions import RMA_CORE, RMA_CORE_STATES, RMA_CORE_TRIGGERS, load_shipped
from workflows.schema import DefinitionError, parse_definition
from workflows.validation import validate_definition


def tiny() -> dict:
    return {
        "name": "tiny",
        "initial": "A",
        "states": [
            {"name": "A", "label": "Start", "team": "support", "sla_hours": 4, "terminal": False},
            {"name": "B", "label": "Middle", "team": None, "sla_hours": None, "terminal": False},
            {"name": "DONE", "label": "Done", "team": None, "sla_hours": None, "terminal": True},
        ],
        "transitions": [
            {"trigger": "go", "source": ["A"], "dest": "B", "roles": ["support"]},
            {"trigger": "finish", "source": ["B"], "dest": "DONE", "roles": ["system"]},
        ],
    }


def problems_of(data, **kw) -> list[str]:
    return validate_definition(data, **kw)


def test_it_accepts_the_shipped_rma_definition_with_its_core_states():
    data = load_shipped("rma")
    assert (
        problems_of(data, required_states=RMA_CORE_STATES, required_triggers=RMA_CORE_TRIGGERS)
        == []
    )
    definition = parse_definition(data)
    assert definition.initial == "SUBMITTED"
    assert {s.name for s in definition.states if s.terminal} == {
        "COMPLETED",
        "REJECTED",
        "CANCELLED",
    }


def test_it_accepts_a_small_valid_definition():
    definition = parse_definition(tiny())
    assert definition.state("A").team == "support"
    assert definition.transitions[0].label == "Go"
    with pytest.raises(KeyError):
        definition.state("NOPE")


@pytest.mark.parametrize("data", [None, [], "rma", 42])
def test_it_refuses_what_is_not_an_object(data):
    assert problems_of(data) == ["the definition must be a JSON object"]


def test_it_names_an_unreachable_state():
    data = tiny()
    data["states"].append({"name": "ORPHAN", "terminal": False})
    data["transitions"].append(
        {"trigger": "leave", "source": ["ORPHAN"], "dest": "DONE", "roles": ["support"]}
    )
    assert "state ORPHAN cannot be reached from A" in problems_of(data)


def test_it_names_a_dead_end_and_a_state_that_cannot_finish():
    data = tiny()
    data["transitions"][1] = {"trigger": "loop", "source": ["B"], "dest": "C", "roles": ["support"]}
    data["states"].append({"name": "C", "terminal": False})
    data["transitions"].append(
        {"trigger": "back", "source": ["C"], "dest": "B", "roles": ["support"]}
    )
    found = problems_of(data)
    assert "state B can never reach a terminal state" in found
    assert "state DONE cannot be reached from A" in found
    data = tiny()
    data["transitions"].pop()
    assert "state B is a dead end: not terminal and no transition out" in problems_of(data)


def test_it_requires_a_terminal_and_a_known_initial():
    data = tiny()
    data["states"][2]["terminal"] = False
    data["initial"] = "Z"
    found = problems_of(data)
    assert "at least one state must be terminal" in found
    assert "initial state 'Z' is not one of the states" in found


def test_it_names_unknown_guards_effects_roles_and_states():
    data = tiny()
    data["transitions"][0].update(
        guards=["os.system"], effects=["drop_tables"], roles=["root"], dest="NOWHERE", source=["X"]
    )
    found = " | ".join(problems_of(data))
    assert "guards: 'os.system' is not known" in found
    assert "effects: 'drop_tables' is not known" in found
    assert "roles: 'root' is not known" in found
    assert "dest 'NOWHERE' is not a state" in found
    assert "source 'X' is not a state" in found


def test_it_refuses_transitions_out_of_a_terminal_state():
    data = tiny()
    data["transitions"].append(
        {"trigger": "reopen", "source": ["DONE"], "dest": "A", "roles": ["support"]}
    )
    assert "transition reopen: terminal state DONE cannot have transitions out" in problems_of(data)


def test_it_refuses_an_ambiguous_pair_of_transitions():
    data = tiny()
    data["transitions"].append(
        {"trigger": "go", "source": ["A"], "dest": "DONE", "roles": ["support"]}
    )
    assert any("ambiguous" in p for p in problems_of(data))


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ({"name": "Bad Name", "type": "text"}, "fields[0].name must be lower_snake_case"),
        ({"name": "version", "type": "text"}, "fields[0].name must be lower_snake_case"),
        ({"name": "note", "type": "blob"}, "field note has unknown type 'blob'"),
        ({"name": "note", "type": ["text"]}, "field note has unknown type ['text']"),
        ({"name": "grade", "type": "choice"}, "field grade needs a non-empty list of text choices"),
        ({"name": "note", "type": "text", "choices": ["a"]}, "only choice fields have choices"),
        ({"name": "note", "type": "text", "required": "yes"}, "required must be true or false"),
        ("note", "fields[0] must be an object"),
    ],
)
def test_it_names_malformed_fields(field, message):
    data = tiny()
    data["transitions"][0]["fields"] = [field]
    assert any(message in p for p in problems_of(data)), problems_of(data)


def test_it_names_a_field_listed_twice():
    data = tiny()
    data["transitions"][0]["fields"] = [
        {"name": "n", "type": "text"},
        {"name": "n", "type": "text"},
    ]
    assert "transition go: field n is listed twice" in problems_of(data)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"team": "marketing"}, "team must be one of"),
        ({"team": {"colour": {"red": "support"}}}, "team must be one of"),
        ({"team": {"disposition": {"REFUND": "nobody"}}}, "team must be one of"),
        ({"sla_hours": -1}, "sla_hours must be a number"),
        ({"sla_hours": True}, "sla_hours must be a number"),
        ({"terminal": "no"}, "terminal must be true or false"),
        ({"label": 5}, "label must be text"),
    ],
)
def test_it_names_malformed_states(change, message):
    data = tiny()
    data["states"][0].update(change)
    assert any(message in p for p in problems_of(data)), problems_of(data)


def test_it_survives_garbage_anywhere_without_crashing():
    data = tiny()
    data["states"].append({"name": {"x": 1}})
    data["states"].append("B")
    data["states"].append({"name": "A"})
    data["transitions"].append(
        {"trigger": ["x"], "source": [{"a": 1}], "dest": {"b": 2}, "roles": "support"}
    )
    data["transitions"].append(7)
    data["initial"] = ["A"]
    data["name"] = "Not Valid"
    found = problems_of(data)
    assert "name must be lower_snake_case (1-40 characters)" in found
    assert "states[3].name must be a word of letters, digits and _" in found
    assert "states[4] must be an object" in found
    assert "state A is defined twice" in found
    assert "transitions[3] must be an object" in found


def test_it_requires_lists_and_keeps_core_states_and_triggers():
    assert "states must be a non-empty list" in problems_of(
        {"name": "x", "states": {}, "transitions": []}
    )
    assert "transitions must be a list" in problems_of(
        {"name": "x", "states": [], "transitions": None}
    )
    data = load_shipped("rma")
    data = copy.deepcopy(data)
    data["transitions"] = [t for t in data["transitions"] if t["trigger"] != "reject"]
    data["states"] = [s for s in data["states"] if s["name"] != "REJECTED"]
    found = problems_of(data, required_states=RMA_CORE_STATES, required_triggers=RMA_CORE_TRIGGERS)
    assert "core state REJECTED must be kept" in found
    assert "core trigger reject must be kept" in found


def test_parse_raises_with_every_problem():
    data = tiny()
    data["initial"] = "Z"
    data["transitions"][0]["roles"] = []
    with pytest.raises(DefinitionError) as caught:
        parse_definition(data)
    assert len(caught.value.problems) >= 2
    assert "roles must be a non-empty list" in str(caught.value)


def test_the_shipped_file_is_valid_json_with_labels_for_everything():
    data = json.loads(json.dumps(load_shipped("rma")))
    assert all(s.get("label") for s in data["states"])
    assert all(t.get("label") for t in data["transitions"])


# -- hostile input and the RMA core rules (issue 11) ---------------------------------------


def rma() -> dict:
    return copy.deepcopy(load_shipped("rma"))


def variant(data: dict, trigger: str, index: int = 0) -> dict:
    return [t for t in data["transitions"] if t["trigger"] == trigger][index]


def test_it_refuses_nesting_deeper_than_the_format_without_recursing():
    data = tiny()
    deep: object = "x"
    for _ in range(100_000):  # far past Python's recursion limit
        deep = [deep]
    data["states"][0]["team"] = deep
    assert problems_of(data) == ["the definition nests objects and lists more than 6 deep"]


def test_it_accepts_the_deepest_nesting_the_format_has():
    data = tiny()
    data["transitions"][0]["fields"] = [{"name": "grade", "type": "choice", "choices": ["a"]}]
    assert problems_of(data) == []


def test_it_refuses_a_definition_larger_than_256_kb():
    data = tiny()
    data["states"][0]["notice"] = "x" * (256 * 1024)
    assert problems_of(data) == ["the definition is larger than 256 KB"]


def test_it_refuses_values_json_cannot_hold():
    data = tiny()
    data["states"][0]["sla_hours"] = {1, 2}
    assert problems_of(data) == ["the definition must hold only JSON values"]


def test_it_counts_states_and_transitions():
    data = tiny()
    data["states"] += [{"name": f"S{i}", "terminal": True} for i in range(98)]
    data["transitions"] += [{"trigger": "finish", "source": ["B"], "dest": "DONE",
                             "roles": ["system"], "guards": ["refund_settled"]}] * 399  # fmt: skip
    found = problems_of(data)
    assert "at most 100 states" in found
    assert "at most 400 transitions" in found


def test_it_names_unknown_keys_at_every_level():
    data = tiny()
    data["code"] = "x"
    data["states"][0]["on_enter"] = "os.system"
    data["transitions"][0]["before"] = "x"
    data["transitions"][0]["fields"] = [{"name": "n", "type": "text", "default": "x"}]
    found = problems_of(data)
    assert any(p.startswith("the definition has unknown keys 'code'") for p in found)
    assert any(p.startswith("states[0] has unknown keys 'on_enter'") for p in found)
    assert any(p.startswith("transitions[0] has unknown keys 'before'") for p in found)
    assert any(p.startswith("transitions[0].fields[0] has unknown keys 'default'") for p in found)


def test_it_accepts_the_presentation_keys_of_a_state():
    data = tiny()
    data["states"][0].update(step="Review", tone="wait", notice="is waiting", guidance="Soon")
    assert not [p for p in problems_of(data) if "unknown keys" in p]


def test_it_limits_labels_to_200_characters_of_text():
    data = tiny()
    data["states"][0]["label"] = "x" * 201
    data["transitions"][0]["label"] = "y" * 201
    data["transitions"][0]["fields"] = [{"name": "n", "type": "text", "label": 7}]
    found = problems_of(data)
    assert "states[0].label must have at most 200 characters" in found
    assert "transitions[0].label must have at most 200 characters" in found
    assert "transitions[0].fields[0].label must be text" in found
    data = tiny()
    data["states"][0]["label"] = "x" * 200
    assert problems_of(data) == []


def test_a_guard_named_twice_does_not_tell_two_variants_apart():
    data = tiny()
    data["transitions"][0]["guards"] = ["refund_settled"]
    twice = ["refund_settled"] * 2
    data["transitions"].append(
        {"trigger": "go", "source": ["A"], "dest": "DONE", "roles": ["support"], "guards": twice}
    )
    assert any("ambiguous" in p for p in problems_of(data))


def test_the_shipped_rma_keeps_every_core_rule():
    assert problems_of(rma(), core=RMA_CORE) == []


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.update(name="returns"), "name must be 'rma'"),
        (
            lambda d: d["states"][9].update(terminal=False),
            "core state COMPLETED must stay terminal",
        ),
        (
            lambda d: variant(d, "validate").update(roles=["support"]),
            "core transition validate from SUBMITTED to VALIDATING by system must be kept",
        ),
        (
            lambda d: variant(d, "complete").update(roles=["finance"]),
            "core transition complete from PROCESSING to COMPLETED by system must be kept",
        ),
        (
            lambda d: variant(d, "process", 1).update(effects=[]),
            "core trigger process must keep its effect issue_store_credit",
        ),
        (
            lambda d: variant(d, "complete", 1).update(effects=["notify_customer"]),
            "core trigger complete must keep its effect create_replacement_order",
        ),
        (
            lambda d: variant(d, "approve")["effects"].append("queue_refund"),
            "transition 'approve': effect queue_refund belongs only on process, retry_refund",
        ),
        (
            lambda d: variant(d, "process", 0).update(guards=["disposition_is_money"]),
            "transition 'process': effect queue_refund needs the guard disposition_is_refund",
        ),
    ],
)
def test_it_keeps_what_the_returns_services_rely_on(edit, message):
    data = rma()
    edit(data)
    found = problems_of(data, core=RMA_CORE)
    assert message in found, found


@pytest.mark.parametrize("hours", [float("nan"), float("inf"), 1e308, 10**12, -0.5])
def test_it_refuses_an_sla_that_is_no_real_time(hours):
    data = tiny()
    data["states"][0]["sla_hours"] = hours
    assert any("sla_hours must be" in p for p in problems_of(data)), problems_of(data)


def test_it_checks_the_core_rules_of_garbage_without_crashing():
    data = rma()
    data["states"][4]["name"] = ["RECEIVED"]
    data["transitions"][0] = {"trigger": {"a": 1}, "effects": [["queue_refund"]], "roles": 1}
    found = problems_of(data, core=RMA_CORE)
    assert "core state RECEIVED must be kept" in found
    assert "core transition validate from SUBMITTED to VALIDATING by system must be kept" in found
