"""/admin/workflows/rma/migrate (issue 11): the admin sees what would move before anything
moves, picks where each state goes, and moves the returns in flight in one step."""

from __future__ import annotations

from app.db import utcnow
from app.models.returns import ReturnRequest
from app.services.returns import fire_return_trigger
from tests.builders import make_user, publish_new_version, rma_with_awaiting_info
from tests.conftest import sign_in
from tests.views.conftest import text
from tests.views.returns_helpers import open_return, post
from workflows.definitions import load_shipped

PAGE = "/admin/workflows/rma/migrate"


def test_it_says_when_no_older_version_is_in_use(client, session, admin):
    sign_in(client, admin)
    assert "No older version is in use" in text(client.get(PAGE))


def test_it_shows_the_dry_run_then_moves_the_returns_in_one_step(app, client, session, admin):
    record = open_return(app, session, make_user(session, "customer"))
    version = publish_new_version(session, rma_with_awaiting_info(), admin)
    token = sign_in(client, admin)

    dry = text(client.get(f"{PAGE}?from=1"))
    assert "What would move" in dry
    assert 'name="to-VALIDATING"' in dry
    assert f"Move 1 return to version {version}" in dry
    assert session.get(ReturnRequest, record.id).workflow_version == 1  # nothing moved

    preview = post(client, PAGE, token, from_version="1", action="preview",
                   **{"to-VALIDATING": "AWAITING_INFO"})  # fmt: skip
    assert '<option value="AWAITING_INFO" selected>' in text(preview)

    moved = post(client, PAGE, token, from_version="1", action="move",
                 **{"to-VALIDATING": "AWAITING_INFO"})  # fmt: skip
    assert moved.status_code == 302
    session.expire_all()
    after = session.get(ReturnRequest, record.id)
    assert (after.workflow_version, after.state) == (version, "AWAITING_INFO")
    assert f"Moved 1 return from version 1 to version {version}." in text(client.get(PAGE))
    history = text(client.get("/admin/workflows/rma"))  # the move is in the workflow's history
    assert "Returns moved between versions" in history
    assert f"Version 1 → {version}" in history
    assert "VALIDATING → AWAITING_INFO" in history


def test_a_plan_with_problems_cannot_be_sent(app, client, session, admin):
    """Version 3 drops the AWAITING_INFO that version 2 added: a return waiting there has
    nowhere to go until the admin picks a state for it."""
    v2 = publish_new_version(session, rma_with_awaiting_info(), admin)
    record = open_return(app, session, make_user(session, "customer"))
    support = make_user(session, "support")
    asked = {"note": "Which size?"}
    fire_return_trigger(session, record.id, "ask_info", actor=support, fields=asked,
                        expected_version=None, now=utcnow())  # fmt: skip
    publish_new_version(session, load_shipped("rma"), admin)
    token = sign_in(client, admin)
    page = text(client.get(f"{PAGE}?from={v2}"))
    assert "Cannot move yet" in page
    assert "has no such state" in page
    assert "Move 1 return" not in page
    refused = post(client, PAGE, token, from_version=str(v2), action="move")
    assert refused.status_code == 302
    session.expire_all()
    assert session.get(ReturnRequest, record.id).workflow_version == v2
    assert "Nothing was moved" in text(client.get(refused.headers["Location"]))


def test_staff_may_not_move_returns(client, session):
    sign_in(client, make_user(session, "support"))
    assert client.get(PAGE).status_code == 403


def test_a_version_published_after_the_dry_run_refuses_the_move(app, client, session, admin):
    """The admin planned a move to version 2; version 3 was published meanwhile: nothing
    moves to a version nobody looked at, and the page plans again for version 3."""
    record = open_return(app, session, make_user(session, "customer"))
    v2 = publish_new_version(session, rma_with_awaiting_info(), admin)
    token = sign_in(client, admin)
    assert f'name="to_version" value="{v2}"' in text(client.get(f"{PAGE}?from=1"))
    v3 = publish_new_version(session, rma_with_awaiting_info(), admin)
    refused = post(client, PAGE, token, from_version="1", to_version=str(v2), action="move")
    assert refused.status_code == 302
    session.expire_all()
    assert session.get(ReturnRequest, record.id).workflow_version == 1
    again = text(client.get(refused.headers["Location"]))
    assert "Nothing was moved" in again
    assert f"Move 1 return to version {v3}" in again
