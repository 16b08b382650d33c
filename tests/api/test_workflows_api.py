"""Workflow definitions through the API (CONTRACT §3.4, issue 11): versions, drafts,
publishing, and what new and in-flight returns run on."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from app.models.users import User
from tests.api.helpers import assert_error
from tests.api.returns_helpers import bought, fire, headers_for, make_crew, open_return
from tests.builders import make_user
from workflows.definitions import load_shipped

RMA = "/api/v1/workflows/rma"


@pytest.fixture
def admin_h(session: Session) -> dict[str, str]:
    return headers_for(make_user(session, "admin", username="wanda"))


def with_awaiting_info() -> dict[str, Any]:
    """Version 1 plus AWAITING_INFO: support asks the customer for more, who answers."""
    data = copy.deepcopy(load_shipped("rma"))
    data["states"].insert(
        2,
        {"name": "AWAITING_INFO", "label": "Waiting for your answer", "team": "support",
         "sla_hours": 72, "terminal": False},
    )  # fmt: skip
    data["transitions"] += [
        {"trigger": "ask_info", "source": ["VALIDATING"], "dest": "AWAITING_INFO",
         "roles": ["support"], "label": "Ask for information",
         "fields": [{"name": "note", "type": "text", "required": True, "label": "Question"}]},
        {"trigger": "provide_info", "source": ["AWAITING_INFO"], "dest": "VALIDATING",
         "roles": ["owner"], "label": "Send the answer"},
    ]  # fmt: skip
    for t in data["transitions"]:
        if t["trigger"] == "cancel":
            t["source"].append("AWAITING_INFO")
    return data


def draft(client: FlaskClient, headers: dict[str, str], data: dict[str, Any]) -> dict[str, Any]:
    response = client.post(f"{RMA}/versions", json={"definition": data}, headers=headers)
    assert response.status_code == 201, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


def publish(client: FlaskClient, headers: dict[str, str], version: int) -> Any:
    return client.post(f"{RMA}/versions/{version}/publish", headers=headers)


def problems(response: Any) -> list[str]:
    error = assert_error(response, 422, "validation_error")
    found = error["details"]["problems"]
    assert isinstance(found, list)
    assert found
    assert all(isinstance(p, str) for p in found)
    return found


def test_it_lists_the_shipped_version_as_published(client, admin_h):
    response = client.get(RMA, headers=admin_h)
    assert response.status_code == 200
    body = response.get_json()
    assert body["published"] == 1
    [v1] = body["versions"]
    assert v1["version"] == 1
    assert v1["status"] == "published"
    assert v1["revision"] == 1
    assert v1["created_at"].endswith("+00:00")
    assert "created_by" in v1

    shown = client.get(f"{RMA}/versions/1", headers=admin_h).get_json()
    assert shown["status"] == "published"
    assert shown["definition"] == load_shipped("rma")


def test_it_lets_only_admins_in(client, session, customer):
    support = make_user(session, "support")
    assert_error(client.get(RMA), 401, "unauthorized")
    assert_error(client.get(RMA, headers=headers_for(support)), 403, "forbidden")
    body = {"definition": load_shipped("rma")}
    response = client.post(f"{RMA}/versions", json=body, headers=headers_for(customer))
    assert_error(response, 403, "forbidden")
    assert_error(publish(client, headers_for(support), 1), 403, "forbidden")


def test_it_answers_404_for_other_workflows_and_missing_versions(client, admin_h):
    assert_error(client.get("/api/v1/workflows/flash_sale", headers=admin_h), 404, "not_found")
    assert_error(client.get("/api/v1/workflows/nope", headers=admin_h), 404, "not_found")
    assert_error(client.get(f"{RMA}/versions/99", headers=admin_h), 404, "not_found")
    assert_error(publish(client, admin_h, 99), 404, "not_found")
    body = {"definition": load_shipped("flash_sale")}
    response = client.post("/api/v1/workflows/flash_sale/versions", json=body, headers=admin_h)
    assert_error(response, 404, "not_found")


def test_it_saves_a_draft_and_publishes_it_retiring_the_old_version(client, admin_h):
    created = draft(client, admin_h, with_awaiting_info())
    assert created["version"] == 2
    assert created["status"] == "draft"
    assert created["created_by"] == "wanda"
    assert created["revision"] == 1
    assert created["definition"] == with_awaiting_info()
    listed = client.get(RMA, headers=admin_h).get_json()
    assert listed["published"] == 1
    assert [(v["version"], v["status"]) for v in listed["versions"]] == [
        (2, "draft"),
        (1, "published"),
    ]

    response = publish(client, admin_h, 2)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["status"] == "published"
    assert response.get_json()["published_by"] == "wanda"
    listed = client.get(RMA, headers=admin_h).get_json()
    assert listed["published"] == 2
    assert [v["status"] for v in listed["versions"]] == ["published", "retired"]

    assert_error(publish(client, admin_h, 2), 409, "conflict")
    assert_error(publish(client, admin_h, 1), 409, "conflict")


def test_it_rolls_back_by_publishing_an_earlier_definition_as_a_new_version(client, admin_h):
    draft(client, admin_h, with_awaiting_info())
    assert publish(client, admin_h, 2).status_code == 200
    v1 = client.get(f"{RMA}/versions/1", headers=admin_h).get_json()["definition"]
    assert draft(client, admin_h, v1)["version"] == 3
    assert publish(client, admin_h, 3).status_code == 200
    listed = client.get(RMA, headers=admin_h).get_json()
    assert listed["published"] == 3
    assert [v["status"] for v in listed["versions"]] == ["published", "retired", "retired"]


def test_it_refuses_a_second_save_of_a_draft_with_a_stale_revision(client, admin_h, session):
    other_admin = headers_for(make_user(session, "admin"))
    created = draft(client, admin_h, with_awaiting_info())
    edited = with_awaiting_info()
    edited["states"][2]["label"] = "Waiting for you"
    first = client.put(
        f"{RMA}/versions/2", json={"definition": edited, "revision": 1}, headers=admin_h
    )
    assert first.status_code == 200, first.get_json()
    assert first.get_json()["revision"] == created["revision"] + 1
    assert first.get_json()["definition"]["states"][2]["label"] == "Waiting for you"
    second = client.put(
        f"{RMA}/versions/2",
        json={"definition": with_awaiting_info(), "revision": 1},
        headers=other_admin,
    )
    error = assert_error(second, 409, "stale_version")
    assert error["details"]["revision"] == 2
    shown = client.get(f"{RMA}/versions/2", headers=admin_h).get_json()
    assert shown["definition"]["states"][2]["label"] == "Waiting for you"


def test_it_never_changes_a_published_version(client, admin_h):
    body = {"definition": load_shipped("rma"), "revision": 1}
    assert_error(client.put(f"{RMA}/versions/1", json=body, headers=admin_h), 409, "conflict")
    assert_error(client.put(f"{RMA}/versions/9", json=body, headers=admin_h), 404, "not_found")


def test_it_refuses_a_draft_update_that_does_not_validate(client, admin_h):
    draft(client, admin_h, with_awaiting_info())
    broken = with_awaiting_info()
    broken["initial"] = "NOWHERE"
    response = client.put(
        f"{RMA}/versions/2", json={"definition": broken, "revision": 1}, headers=admin_h
    )
    assert any("NOWHERE" in p for p in problems(response))
    shown = client.get(f"{RMA}/versions/2", headers=admin_h).get_json()
    assert shown["revision"] == 1
    assert shown["definition"]["initial"] == "SUBMITTED"


def _deep(levels: int) -> Any:
    value: Any = "x"
    for _ in range(levels):
        value = [value]
    return value


def _big() -> dict[str, Any]:
    data = load_shipped("rma")
    data["states"][0]["label"] = "x" * (300 * 1024)
    return data


def _change(edit: Any) -> dict[str, Any]:
    data = copy.deepcopy(load_shipped("rma"))
    edit(data)
    return data


def _transition(data: dict[str, Any], trigger: str, index: int = 0) -> dict[str, Any]:
    found: dict[str, Any] = [t for t in data["transitions"] if t["trigger"] == trigger][index]
    return found


HOSTILE = {
    "too deep": (_change(lambda d: d["states"][0].update(team=_deep(50))), "nests"),
    "too big": (_big(), "larger than 256 KB"),
    "too many states": (
        _change(lambda d: d["states"].extend({"name": f"S{i}"} for i in range(100))),
        "at most 100 states",
    ),
    "too many transitions": (
        _change(lambda d: d["transitions"].extend([d["transitions"][1]] * 400)),
        "at most 400 transitions",
    ),
    "unknown top key": (_change(lambda d: d.update(code="import os")), "unknown keys 'code'"),
    "unknown state key": (
        _change(lambda d: d["states"][0].update(on_enter="x")),
        "states[0] has unknown keys 'on_enter'",
    ),
    "unknown transition key": (
        _change(lambda d: d["transitions"][0].update(before="os.system")),
        "transitions[0] has unknown keys 'before'",
    ),
    "unknown field key": (
        _change(lambda d: _transition(d, "approve")["fields"][0].update(default="x")),
        "unknown keys 'default'",
    ),
    "label not text": (_change(lambda d: d["states"][0].update(label=["a"])), "label must be text"),
    "label too long": (
        _change(lambda d: d["transitions"][0].update(label="x" * 201)),
        "label must have at most 200 characters",
    ),
    "same trigger, same guards": (
        _change(lambda d: _transition(d, "process", 1).update(guards=["disposition_is_refund"])),
        "ambiguous",
    ),
    "name": (_change(lambda d: d.update(name="other")), "name must be 'rma'"),
    "core state gone": (
        _change(lambda d: d["states"][2].update(name="OK_SHIP")),
        "core state APPROVED must be kept",
    ),
    "completed not terminal": (
        _change(lambda d: d["states"][9].update(terminal=False)),
        "core state COMPLETED must stay terminal",
    ),
    "refund effect dropped": (
        _change(lambda d: _transition(d, "process", 0).update(effects=[])),
        "core trigger process must keep its effect queue_refund",
    ),
    "credit on another trigger": (
        _change(lambda d: _transition(d, "approve")["effects"].append("issue_store_credit")),
        "effect issue_store_credit belongs only on process",
    ),
    "unknown guard": (
        _change(lambda d: d["transitions"][0].update(guards=["__import__"])),
        "'__import__' is not known",
    ),
}


@pytest.mark.parametrize("case", list(HOSTILE), ids=list(HOSTILE))
def test_it_refuses_a_bad_definition_with_its_problems(client, admin_h, case):
    data, expected = HOSTILE[case]
    response = client.post(f"{RMA}/versions", json={"definition": data}, headers=admin_h)
    found = problems(response)
    assert any(expected in p for p in found), found
    assert client.get(RMA, headers=admin_h).get_json()["versions"][0]["version"] == 1


@pytest.mark.parametrize("body", [{}, {"definition": None}, {"definition": [1]}, {"x": 1}])
def test_it_refuses_a_body_without_a_definition_object(client, admin_h, body):
    error = assert_error(
        client.post(f"{RMA}/versions", json=body, headers=admin_h), 422, "validation_error"
    )
    assert "definition" in error["details"]["fields"]
    assert error["details"]["problems"] == ["the definition must be a JSON object"]


def test_it_refuses_a_body_that_is_not_json(client, admin_h):
    response = client.post(
        f"{RMA}/versions",
        data=json.dumps({"definition": load_shipped("rma")}),
        headers={**admin_h, "Content-Type": "text/plain"},
    )
    assert_error(response, 415, "unsupported_media_type")


def test_new_returns_take_the_published_version_and_old_ones_keep_theirs(
    client, admin_h, session, app, customer: User
):
    crew = make_crew(session, customer)
    order, _ = bought(session, app, customer, quantity=2)
    before = open_return(client, crew["customer"], order)
    assert before["workflow_version"] == 1

    draft(client, admin_h, with_awaiting_info())
    assert publish(client, admin_h, 2).status_code == 200
    after = open_return(client, crew["customer"], order)
    assert after["workflow_version"] == 2

    refused = fire(client, crew["support"], before["id"], "ask_info", note="Which size?")
    assert_error(refused, 409, "invalid_transition")

    asked = fire(client, crew["support"], after["id"], "ask_info", note="Which size?")
    assert asked.status_code == 200, asked.get_json()
    assert asked.get_json()["state"] == "AWAITING_INFO"
    assert asked.get_json()["workflow_version"] == 2
    queue = client.get("/api/v1/queues/support", headers=crew["support"]).get_json()
    waiting = {item["id"]: item["state"] for item in queue["items"]}
    assert waiting[after["id"]] == "AWAITING_INFO"
    assert waiting[before["id"]] == "VALIDATING"

    answered = fire(client, crew["customer"], after["id"], "provide_info")
    assert answered.status_code == 200, answered.get_json()
    assert answered.get_json()["state"] == "VALIDATING"
    shown = client.get(f"/api/v1/returns/{before['id']}", headers=crew["customer"]).get_json()
    assert shown["workflow_version"] == 1


def test_returns_in_flight_move_to_a_new_version_after_a_dry_run(
    client, session, app, admin_h, customer: User
):
    """The dry run counts who would move where and moves nothing; the move itself answers
    201 with the same plan, and the moved return carries on on the new version."""
    crew = make_crew(session, customer)
    order, _ = bought(session, app, customer, quantity=2)
    record = open_return(client, crew["customer"], order)
    version = draft(client, admin_h, with_awaiting_info())["version"]
    assert publish(client, admin_h, version).status_code == 200
    body = {"from_version": 1, "to_version": version, "mapping": {"VALIDATING": "AWAITING_INFO"}}

    dry = client.post(f"{RMA}/migrations", json={**body, "dry_run": True}, headers=admin_h)
    assert dry.status_code == 200
    assert dry.get_json()["moves"] == [{"from": "VALIDATING", "to": "AWAITING_INFO", "count": 1}]
    assert (
        client.get(f"/api/v1/returns/{record['id']}", headers=crew["customer"]).get_json()[
            "workflow_version"
        ]
        == 1
    )

    moved = client.post(f"{RMA}/migrations", json=body, headers=admin_h)
    assert moved.status_code == 201
    assert moved.get_json()["total"] == 1
    after = client.get(f"/api/v1/returns/{record['id']}", headers=crew["customer"]).get_json()
    assert (after["workflow_version"], after["state"]) == (version, "AWAITING_INFO")
    assert after["events"][-1]["trigger"] == "migrate"
    answered = fire(client, crew["customer"], record["id"], "provide_info")
    assert answered.get_json()["state"] == "VALIDATING"


def test_a_move_with_nowhere_to_go_is_refused_with_its_problems(
    client, session, app, admin_h, customer: User
):
    crew = make_crew(session, customer)
    order, _ = bought(session, app, customer, quantity=2)
    open_return(client, crew["customer"], order)
    version = draft(client, admin_h, with_awaiting_info())["version"]
    publish(client, admin_h, version)
    body = {"from_version": 1, "to_version": version, "mapping": {"VALIDATING": "GONE"}}
    refused = client.post(f"{RMA}/migrations", json=body, headers=admin_h)
    assert problems(refused) == [f"VALIDATING → GONE: version {version} has no state GONE"]
    bad = client.post(f"{RMA}/migrations", json={**body, "mapping": [1]}, headers=admin_h)
    assert_error(bad, 422, "validation_error")
    other = client.post("/api/v1/workflows/flash_sale/migrations", json=body, headers=admin_h)
    assert_error(other, 404, "not_found")


def test_returns_move_only_from_a_retired_version_to_the_published_one(
    client, session, app, admin_h, customer: User
):
    """A draft may still change and an older version is history: moving returns there is
    refused with what is wrong, and nothing moves."""
    crew = make_crew(session, customer)
    order, _ = bought(session, app, customer, quantity=2)
    record = open_return(client, crew["customer"], order)
    published = draft(client, admin_h, with_awaiting_info())["version"]
    publish(client, admin_h, published)
    pending = draft(client, admin_h, with_awaiting_info())["version"]
    to_draft = {"from_version": 1, "to_version": pending}
    assert problems(client.post(f"{RMA}/migrations", json=to_draft, headers=admin_h)) == [
        "must be the published version"
    ]
    backwards = {"from_version": published, "to_version": 1, "dry_run": True}
    assert problems(client.post(f"{RMA}/migrations", json=backwards, headers=admin_h)) == [
        "must be the published version",
        "must be a retired version",
    ]
    shown = client.get(f"/api/v1/returns/{record['id']}", headers=crew["customer"]).get_json()
    assert shown["workflow_version"] == 1
