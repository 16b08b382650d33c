"""The read-only admin workflow pages (issue 11): the list, a workflow's versions, a
version's diagram with live counts; admins only; labels escaped."""

from __future__ import annotations

import copy
import re
from datetime import timedelta

import pytest

from app.db import utcnow
from app.services.returns import LineRequest, create_return
from app.services.workflows import RMA, create_draft
from tests.builders import make_paid_order, make_product, make_user
from tests.conftest import sign_in
from tests.views.conftest import HX, text
from workflows.definitions import load_shipped

EVIL = '<script>alert("x")</script>'


@pytest.fixture
def signed_in(client, admin):
    sign_in(client, admin)
    return client


@pytest.fixture
def two_returns(app, session):
    customer = make_user(session, "customer")
    product = make_product(session, stock=10, price_cents=1500)
    for _ in range(2):
        order = make_paid_order(
            session, app.extensions["backroom.payments"], customer, product, quantity=1
        )
        create_return(
            session, customer=customer, order_id=order.id, reason="damaged",
            description="cracked", lines=[LineRequest(order.lines[0].id, 1)], now=utcnow(),
        )  # fmt: skip


def state_row(html: str, state: str) -> str:
    row = re.search(rf'<tr id="state-{state}".*?</tr>', html, re.S)
    assert row, html[:500]
    return row.group(0)


def test_it_lists_both_workflows_with_their_published_version(signed_in, session, admin):
    later = utcnow() + timedelta(seconds=5)  # after version 1 is seeded
    create_draft(session, RMA, load_shipped("rma"), actor=admin.id, now=later)

    response = signed_in.get("/admin/workflows")

    html = text(response)
    assert response.status_code == 200
    assert "Returns (RMA)" in html
    assert "Flash-sale lifecycle" in html
    rma = re.search(r'<tr id="workflow-rma".*?</tr>', html, re.S)
    assert rma
    assert 'href="/admin/workflows/rma/versions/1"' in rma.group(0)
    assert re.search(r'<td class="num" data-label="Drafts">1</td>', rma.group(0))  # one draft
    assert f"Created by {admin.username}" in rma.group(0)
    assert 'href="/admin/workflows"' in html  # the nav link
    assert "/admin/workflows/flash_sale" in html


def test_it_shows_a_workflows_versions_with_history_and_links(signed_in, session, admin):
    create_draft(session, RMA, load_shipped("rma"), actor=admin.id, now=utcnow())

    html = text(signed_in.get("/admin/workflows/rma"))

    assert 'href="/admin/workflows/rma/drafts/new"' in html
    draft = re.search(r'<tr id="version-2".*?</tr>', html, re.S)
    first = re.search(r'<tr id="version-1".*?</tr>', html, re.S)
    assert draft
    assert first
    assert "Draft" in draft.group(0)
    assert 'href="/admin/workflows/rma/versions/2/edit"' in draft.group(0)
    assert "no change to the states or transitions" in draft.group(0)
    assert "Published" in first.group(0)
    assert "/edit" not in first.group(0)  # only drafts are edited


def test_it_shows_the_flash_sale_lifecycle_without_editing(signed_in):
    html = text(signed_in.get("/admin/workflows/flash_sale"))

    assert "shown, not edited" in html
    assert "/drafts/new" not in html
    assert "/edit" not in html
    version = text(signed_in.get("/admin/workflows/flash_sale/versions/1"))
    assert 'id="wf-state-scheduled"' in version
    assert "Live" in version  # the label of `active`


def test_it_draws_the_diagram_with_live_counts_and_overdue_marks(signed_in, two_returns):
    response = signed_in.get("/admin/workflows/rma/versions/1")

    html = text(response)
    assert response.status_code == 200
    assert "<svg" in html
    assert 'viewBox="0 0 ' in html
    box = re.search(r'<g id="wf-state-VALIDATING".*?</g>', html, re.S)
    assert box
    assert "2 returns" in box.group(0)
    assert "overdue" not in box.group(0)
    assert 'class="wf-state wf-terminal"' in html  # terminal states look different
    assert 'data-col="count">2<' in state_row(html, "VALIDATING")
    assert 'data-col="count">0<' in state_row(html, "APPROVED")
    assert "The published version" in html
    assert 'hx-get="/admin/workflows/rma/versions/1"' in html
    assert 'hx-trigger="every 10s"' in html
    assert "<code>complete_inspection</code>" in html  # the transitions table


def test_it_marks_breaches_in_words(signed_in, session, two_returns):
    from sqlalchemy import update

    from app.models.returns import ReturnRequest

    session.execute(update(ReturnRequest).values(sla_due_at=utcnow().replace(year=2020)))
    session.commit()

    html = text(signed_in.get("/admin/workflows/rma/versions/1"))

    box = re.search(r'<g id="wf-state-VALIDATING".*?</g>', html, re.S)
    assert box
    assert "wf-breached" in box.group(0)
    assert "2 overdue" in box.group(0)
    assert "2 overdue" in state_row(html, "VALIDATING")


def test_it_sends_only_the_live_counts_to_htmx(signed_in, two_returns):
    response = signed_in.get("/admin/workflows/rma/versions/1", headers=HX)

    html = text(response)
    assert response.status_code == 200
    assert html.lstrip().startswith("<section")
    assert 'id="workflow-live"' in html
    assert "<html" not in html
    assert 'data-col="count">2<' in state_row(html, "VALIDATING")
    assert "HX-Request" in response.headers.get("Vary", "")


def test_it_escapes_labels_from_the_definition(signed_in, session, admin):
    data = copy.deepcopy(load_shipped("rma"))
    data["states"][1]["label"] = EVIL
    data["transitions"][0]["label"] = EVIL
    draft = create_draft(session, RMA, data, actor=admin.id, now=utcnow())

    html = text(signed_in.get(f"/admin/workflows/rma/versions/{draft.version}"))

    assert EVIL not in html
    assert "&lt;script&gt;" in html
    assert 'href="/admin/workflows/rma/versions/2/edit"' in html


@pytest.mark.parametrize(
    "path",
    ["/admin/workflows/payroll", "/admin/workflows/payroll/versions/1",
     "/admin/workflows/rma/versions/99", "/admin/workflows/flash_sale/versions/2"],
)  # fmt: skip
def test_it_answers_404_for_unknown_workflows_and_versions(signed_in, path):
    assert signed_in.get(path).status_code == 404


@pytest.mark.parametrize(
    "path", ["/admin/workflows", "/admin/workflows/rma", "/admin/workflows/rma/versions/1"]
)
def test_it_refuses_staff_with_403(client, session, path):
    sign_in(client, make_user(session, "support"))

    assert client.get(path).status_code == 403
