"""The shipped flash-sale lifecycle: valid, and every (state, trigger, role) cell behaves."""

from __future__ import annotations

import pytest

from workflows.definitions import load_shipped
from workflows.engine import InvalidTransition, NotAllowed, engine_for
from workflows.registry import SYSTEM, Actor
from workflows.schema import parse_definition
from workflows.validation import validate_definition

STATES = ("scheduled", "active", "ended", "cancelled")
ROLES = ("system", "admin", "customer", "support", "warehouse", "finance")
# (state, trigger) -> destination, and who may fire it (admins may fire anything).
MOVES = {
    ("scheduled", "start"): ("active", {"system", "admin"}),
    ("scheduled", "end"): ("ended", {"system", "admin"}),
    ("active", "end"): ("ended", {"system", "admin"}),
    ("scheduled", "cancel"): ("cancelled", {"admin"}),
    ("active", "cancel"): ("cancelled", {"admin"}),
}


@pytest.fixture(scope="module")
def engine():
    return engine_for("flash_sale", 1, lambda: parse_definition(load_shipped("flash_sale")))


def actor(role: str) -> Actor:
    return SYSTEM if role == "system" else Actor(7, role)


def test_the_shipped_definition_passes_validation():
    data = load_shipped("flash_sale")
    assert validate_definition(data, required_states=STATES) == []
    definition = parse_definition(data)
    assert definition.initial == "scheduled"
    assert {s.name for s in definition.states if s.terminal} == {"ended", "cancelled"}


def test_ending_and_cancelling_release_holds_and_stock(engine):
    for trigger in ("end", "cancel"):
        fired = engine.fire("active", trigger, actor=actor("admin"), subject={})
        assert fired.effects == ("release_holds", "release_sale_stock")
    assert engine.fire("scheduled", "start", actor=SYSTEM, subject={}).effects == ()


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("trigger", ["start", "end", "cancel"])
@pytest.mark.parametrize("state", STATES)
def test_every_cell_moves_or_refuses(engine, state, trigger, role):
    move = MOVES.get((state, trigger))
    if move is None:
        with pytest.raises(InvalidTransition):
            engine.fire(state, trigger, actor=actor(role), subject={})
        return
    dest, roles = move
    if role in roles:
        assert engine.fire(state, trigger, actor=actor(role), subject={}).dest == dest
    else:
        with pytest.raises(NotAllowed):
            engine.fire(state, trigger, actor=actor(role), subject={})


def test_people_are_offered_only_cancel(engine):
    assert [a.trigger for a in engine.available("active", actor("admin"), {})] == ["cancel"]
    assert engine.available("active", actor("customer"), {}) == []
    assert [a.trigger for a in engine.available("scheduled", SYSTEM, {})] == ["start", "end"]
    assert engine.available("ended", SYSTEM, {}) == []
