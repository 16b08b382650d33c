"""The engine on the shipped RMA definition: every (state, trigger, role) cell of CONTRACT
§3.4's table, every guard, and each kind of refusal."""

from __future__ import annotations

import dataclasses
import threading

import pytest

from workflows.definitions import load_shipped
from workflows.engine import (
    Engine,
    FieldsInvalid,
    GuardRefused,
    InvalidTransition,
    NotAllowed,
    Store,
    check_fields,
    engine_for,
)
from workflows.registry import GUARDS, SYSTEM, Actor
from workflows.schema import FieldSpec, parse_definition

OWNER_ID = 7
ACTORS = {
    "owner": Actor(OWNER_ID, "customer"),
    "other_customer": Actor(99, "customer"),
    "support": Actor(2, "support"),
    "warehouse": Actor(3, "warehouse"),
    "finance": Actor(4, "finance"),
    "admin": Actor(5, "admin"),
    "system": SYSTEM,
}
STATES = [
    "SUBMITTED", "VALIDATING", "APPROVED", "SHIPPING", "RECEIVED", "INSPECTING", "INSPECTED",
    "DISPOSITION", "PROCESSING", "COMPLETED", "REJECTED", "CANCELLED",
]  # fmt: skip
DISPOSITIONS = ["REFUND", "STORE_CREDIT", "REPLACEMENT", "REPAIR", "REJECT"]
MONEY = {"REFUND", "STORE_CREDIT"}

# CONTRACT §3.4, written out independently of rma.json: trigger -> (sources, dest, who).
# `who` may depend on the disposition for process/complete.
TABLE = {
    "validate": (["SUBMITTED"], "VALIDATING", lambda d: {"system"}),
    "approve": (["VALIDATING"], "APPROVED", lambda d: {"support"}),
    "reject": (["VALIDATING"], "REJECTED", lambda d: {"support"}),
    "cancel": (
        ["SUBMITTED", "VALIDATING", "APPROVED"],
        "CANCELLED",
        lambda d: {"owner", "support"},
    ),
    "ship": (["APPROVED"], "SHIPPING", lambda d: {"owner"}),
    "receive": (["SHIPPING"], "RECEIVED", lambda d: {"warehouse"}),
    "start_inspection": (["RECEIVED"], "INSPECTING", lambda d: {"warehouse"}),
    "complete_inspection": (["INSPECTING"], "INSPECTED", lambda d: {"warehouse"}),
    "decide": (["INSPECTED"], "DISPOSITION", lambda d: {"support"}),
    "process": (
        ["DISPOSITION"],
        "PROCESSING",
        lambda d: {"finance"} if d in MONEY else {"warehouse"},
    ),
    "complete": (
        ["PROCESSING"],
        "COMPLETED",
        lambda d: {"system"} if d in MONEY else {"warehouse"},
    ),
}
VALID_FIELDS = {
    "reject": {"note": "not eligible"},
    "ship": {"carrier": "DHL", "tracking_number": "JD0001"},
    "complete_inspection": {"condition": "like_new"},
    "decide": {"disposition": "REFUND"},
    "complete": {"tracking_number": "T1", "return_tracking": "R1"},
}


@pytest.fixture(scope="module")
def engine() -> Engine:
    return engine_for("rma", 1, lambda: parse_definition(load_shipped("rma")))


def subject(disposition: str | None = None) -> dict:
    return {
        "owner_id": OWNER_ID,
        "disposition": disposition,
        "refund_status": "succeeded" if disposition in MONEY else None,
        "max_amount_cents": 5000,
    }


CELLS = [
    (state, trigger, who, disposition)
    for state in STATES
    for trigger in TABLE
    for who in ACTORS
    for disposition in (DISPOSITIONS if state in ("DISPOSITION", "PROCESSING") else [None])
]


@pytest.mark.parametrize(("state", "trigger", "who", "disposition"), CELLS)
def test_every_state_trigger_role_cell_matches_the_contract(
    engine, state, trigger, who, disposition
):
    sources, dest, allowed = TABLE[trigger]
    actor = ACTORS[who]
    fire = lambda: engine.fire(  # noqa: E731
        state,
        trigger,
        actor=actor,
        subject=subject(disposition),
        fields=VALID_FIELDS.get(trigger, {}),
    )
    if state not in sources:
        with pytest.raises(InvalidTransition):
            fire()
        return
    permitted = who == "admin" or who in allowed(disposition)
    if not permitted:
        with pytest.raises(NotAllowed):
            fire()
        return
    fired = fire()
    assert (fired.source, fired.dest) == (state, dest)


def test_it_offers_each_actor_what_they_may_do(engine):
    owner, support = ACTORS["owner"], ACTORS["support"]
    assert [a.trigger for a in engine.available("APPROVED", owner, subject())] == ["cancel", "ship"]
    assert [
        a.trigger for a in engine.available("APPROVED", ACTORS["other_customer"], subject())
    ] == []
    assert [a.trigger for a in engine.available("VALIDATING", support, subject())] == [
        "approve", "reject", "cancel"
    ]  # fmt: skip
    finance = engine.available("DISPOSITION", ACTORS["finance"], subject("STORE_CREDIT"))
    assert [(a.trigger, a.label) for a in finance] == [("process", "Issue store credit")]
    assert engine.available("DISPOSITION", ACTORS["finance"], subject("REPAIR")) == []
    ship = engine.available("APPROVED", owner, subject())[1]
    assert [f.name for f in ship.fields] == ["carrier", "tracking_number"]
    assert engine.available("COMPLETED", ACTORS["admin"], subject()) == []


def test_system_steps_are_offered_only_to_the_system(engine):
    assert engine.available("SUBMITTED", ACTORS["admin"], subject()) == [
        a
        for a in engine.available("SUBMITTED", ACTORS["admin"], subject())
        if a.trigger != "validate"
    ]
    assert [a.trigger for a in engine.available("SUBMITTED", SYSTEM, subject())] == ["validate"]


def test_it_explains_an_unknown_trigger_and_a_wrong_state(engine):
    with pytest.raises(InvalidTransition, match="no action 'explode'"):
        engine.fire("VALIDATING", "explode", actor=ACTORS["support"], subject=subject())
    with pytest.raises(InvalidTransition, match="while the return is Received") as caught:
        engine.fire("RECEIVED", "approve", actor=ACTORS["support"], subject=subject())
    assert caught.value.details == {"trigger": "approve", "state": "RECEIVED"}


def test_it_names_missing_and_mistyped_fields(engine):
    with pytest.raises(FieldsInvalid) as caught:
        engine.fire(
            "APPROVED", "ship", actor=ACTORS["owner"], subject=subject(), fields={"carrier": " "}
        )
    assert caught.value.fields == {"carrier": "is required", "tracking_number": "is required"}
    with pytest.raises(FieldsInvalid) as caught:
        engine.fire(
            "INSPECTED",
            "decide",
            actor=ACTORS["support"],
            subject=subject(),
            fields={"disposition": "BURN", "amount_cents": "ten"},
        )
    assert set(caught.value.fields) == {"disposition", "amount_cents"}


def test_the_amount_guard_caps_refunds_at_what_was_paid(engine):
    fired = engine.fire(
        "INSPECTED",
        "decide",
        actor=ACTORS["support"],
        subject=subject(),
        fields={"disposition": "STORE_CREDIT", "amount_cents": 5000},
    )
    assert fired.fields == {"disposition": "STORE_CREDIT", "amount_cents": 5000}
    with pytest.raises(GuardRefused) as caught:
        engine.fire(
            "INSPECTED",
            "decide",
            actor=ACTORS["support"],
            subject=subject(),
            fields={"disposition": "REFUND", "amount_cents": 5001},
        )
    assert "amount_within_paid" in caught.value.reasons
    with pytest.raises(GuardRefused, match="only to REFUND and STORE_CREDIT"):
        engine.fire(
            "INSPECTED",
            "decide",
            actor=ACTORS["support"],
            subject=subject(),
            fields={"disposition": "REPAIR", "amount_cents": 100},
        )


def test_the_system_completes_money_only_after_the_refund_succeeded(engine):
    pending = {**subject("REFUND"), "refund_status": "pending"}
    with pytest.raises(GuardRefused) as caught:
        engine.fire("PROCESSING", "complete", actor=SYSTEM, subject=pending)
    assert caught.value.reasons == {"refund_settled": "the refund or credit has not succeeded yet"}


def test_a_failed_refund_can_be_retried_by_finance_only(engine):
    failed = {**subject("REFUND"), "refund_status": "failed"}
    fired = engine.fire("PROCESSING", "retry_refund", actor=ACTORS["finance"], subject=failed)
    assert (fired.dest, fired.effects) == ("PROCESSING", ("queue_refund",))
    with pytest.raises(GuardRefused):
        engine.fire(
            "PROCESSING", "retry_refund", actor=ACTORS["finance"], subject=subject("REFUND")
        )
    with pytest.raises(NotAllowed):
        engine.fire("PROCESSING", "retry_refund", actor=ACTORS["warehouse"], subject=failed)


def test_it_returns_each_transitions_effects_in_order(engine):
    fired = engine.fire(
        "PROCESSING",
        "complete",
        actor=ACTORS["warehouse"],
        subject=subject("REPLACEMENT"),
        fields={"tracking_number": "X1"},
    )
    assert fired.effects == ("create_replacement_order", "restock_if_resellable", "notify_customer")
    assert fired.fields == {"tracking_number": "X1"}


def test_queues_follow_the_definitions_teams(engine):
    assert engine.team_for("VALIDATING", subject()) == "support"
    assert engine.team_for("APPROVED", subject()) == "customer"
    assert engine.team_for("DISPOSITION", subject("REFUND")) == "finance"
    assert engine.team_for("PROCESSING", subject("REJECT")) == "warehouse"
    assert engine.team_for("COMPLETED", subject()) is None


@pytest.mark.parametrize("name", sorted(GUARDS))
def test_every_guard_passes_and_refuses(name):
    guard = GUARDS[name]
    actor = ACTORS["support"]
    d = "disposition"
    cases = {
        "disposition_is_money": ({d: "REFUND"}, {}, {d: "REPAIR"}, {}),
        "disposition_is_goods": ({d: "REJECT"}, {}, {d: "REFUND"}, {}),
        "disposition_is_refund": ({d: "REFUND"}, {}, {d: "STORE_CREDIT"}, {}),
        "disposition_is_store_credit": ({d: "STORE_CREDIT"}, {}, {d: None}, {}),
        "disposition_is_replacement": ({d: "REPLACEMENT"}, {}, {d: "REPAIR"}, {}),
        "disposition_is_repair_or_reject": ({d: "REPAIR"}, {}, {d: "REFUND"}, {}),
        "refund_settled": ({"refund_status": "succeeded"}, {}, {"refund_status": "failed"}, {}),
        "refund_failed": ({"refund_status": "failed"}, {}, {"refund_status": "pending"}, {}),
        "amount_within_paid": (
            {"max_amount_cents": 10},
            {d: "REFUND", "amount_cents": 10},
            {"max_amount_cents": 10},
            {d: "REFUND", "amount_cents": 11},
        ),
    }
    ok_subject, ok_fields, bad_subject, bad_fields = cases[name]
    assert guard.check(ok_subject, actor, ok_fields) is None
    reason = guard.check(bad_subject, actor, bad_fields)
    assert isinstance(reason, str)
    assert reason


def test_check_fields_types_values():
    specs = (
        FieldSpec("n", "integer", True),
        FieldSpec("s", "string", False),
        FieldSpec("t", "text", False),
    )
    assert check_fields(specs, {"n": "12", "s": " hi ", "extra": 1}) == {"n": 12, "s": "hi"}
    with pytest.raises(FieldsInvalid) as caught:
        check_fields(specs, {"n": True, "s": "x" * 201, "t": 5})
    assert set(caught.value.fields) == {"n", "s", "t"}
    with pytest.raises(FieldsInvalid, match="zero or more"):
        check_fields(specs, {"n": -1})
    assert check_fields(specs, {"n": " 7 "}) == {"n": 7}


@pytest.mark.parametrize("typed", ["²", "①", "--3", "-", "1" * 19])
def test_check_fields_refuses_numbers_int_cannot_read(typed):
    """`str.isdigit` takes "²" and "①", which `int` refuses: a 422, never a 500."""
    with pytest.raises(FieldsInvalid, match="whole number"):
        check_fields((FieldSpec("n", "integer", True),), {"n": typed})


def test_engines_are_cached_per_name_and_version():
    loads: list[str] = []

    def load():
        loads.append("read")
        return parse_definition(load_shipped("rma"))

    first = engine_for("rma-cache-test", 1, load)
    assert engine_for("rma-cache-test", 1, load) is first
    assert engine_for("rma-cache-test", 2, load) is not first
    assert loads == ["read", "read"]


def test_two_stores_never_share_a_version_s_engine():
    """Two databases in one process may each save a different version 2: each store (the
    service passes its database) gets the engine built from its own definition."""
    shipped = parse_definition(load_shipped("rma"))
    relabelled = parse_definition(
        {**load_shipped("rma"), "states": [
            {**state, "label": state["label"] + " (b)"} for state in load_shipped("rma")["states"]
        ]}
    )  # fmt: skip
    a, b = Store(), Store()
    first = engine_for("rma-stores-test", 2, lambda: shipped, store=a)
    second = engine_for("rma-stores-test", 2, lambda: relabelled, store=b)
    assert first is not second
    assert second.definition.states[0].label.endswith("(b)")
    assert engine_for("rma-stores-test", 2, lambda: relabelled, store=a) is first


@pytest.mark.parametrize("role", ["finance", "warehouse", "support"])
def test_it_asks_each_guard_once_per_firing(engine, monkeypatch, role):
    asked: list[str] = []
    for name, guard in list(GUARDS.items()):

        def check(subject, actor, fields, _name=name, _check=guard.check):
            asked.append(_name)
            return _check(subject, actor, fields)

        monkeypatch.setitem(GUARDS, name, dataclasses.replace(guard, check=check))
    try:
        engine.fire("DISPOSITION", "process", actor=ACTORS[role], subject=subject("REFUND"))
    except NotAllowed:
        assert role != "finance"
    assert asked  # the variants' guards decided which applies
    assert len(asked) == len(set(asked))


def test_it_reads_the_fields_of_the_variant_that_applies_only(engine):
    read: list[tuple[str, ...]] = []

    def reader(specs):
        read.append(tuple(spec.name for spec in specs))
        return {"tracking_number": "T1"}

    fired = engine.fire(
        "PROCESSING", "complete", actor=ACTORS["warehouse"], subject=subject("REPLACEMENT"),
        fields=reader,
    )  # fmt: skip
    assert (fired.dest, fired.fields, read) == (
        "COMPLETED",
        {"tracking_number": "T1"},
        [("tracking_number",)],
    )
    with pytest.raises(NotAllowed):
        engine.fire("PROCESSING", "complete", actor=ACTORS["support"],
                    subject=subject("REPLACEMENT"), fields=reader)  # fmt: skip
    assert len(read) == 1


def test_concurrent_firings_on_one_machine_do_not_interfere(engine):
    results: list[str] = []

    def work() -> None:
        for _ in range(50):
            results.append(
                engine.fire(
                    "RECEIVED", "start_inspection", actor=ACTORS["warehouse"], subject=subject()
                ).dest
            )

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == ["INSPECTING"] * 400
    assert engine.machine.models == []
