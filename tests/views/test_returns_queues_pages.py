"""The staff pages for returns: a live queue per team and the whole return."""

import io
import re
import time

import pytest
from flask import render_template_string
from sqlalchemy import update
from sqlalchemy.exc import OperationalError

import views.returns.staff
from app.db import utcnow
from app.models.orders import Order
from app.models.returns import ReturnRequest
from app.services.read_cache import returns_reads
from app.services.returns import execute_refunds, fire_return_trigger
from tests.builders import make_image, walk_return
from tests.conftest import sign_in, statements_run
from tests.views.conftest import text
from tests.views.returns_helpers import (
    HX,
    age,
    make_team,
    open_return,
    post,
    refund_failed,
    stamp_of,
)


@pytest.fixture
def team(session):
    return make_team(session)


def reload(session, record):
    session.expire_all()
    return session.get(ReturnRequest, record.id)


# Who may open a queue ---------------------------------------------------------------


def test_it_sends_anonymous_visitors_to_sign_in(client):
    response = client.get("/staff/queues/support")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/staff/queues/support"


def test_it_forbids_customers_the_queues_and_staff_pages(app, client, session, customer):
    record = open_return(app, session, customer)
    token = sign_in(client, customer)
    assert client.get("/staff/queues/support").status_code == 403
    assert client.get(f"/staff/returns/{record.id}").status_code == 403
    assert client.get("/staff/queues/nav").status_code == 403
    fired = post(client, f"/staff/returns/{record.id}/transitions", token, trigger="cancel")
    assert fired.status_code == 403
    assert reload(session, record).state == "VALIDATING"


def test_it_forbids_another_teams_queue(client, team):
    sign_in(client, team["support"])
    response = client.get("/staff/queues/warehouse")
    assert response.status_code == 403
    assert "belongs to the warehouse team" in text(response)
    assert client.get("/staff/queues/support").status_code == 200
    assert client.get("/staff/queues/marketing").status_code == 404


def test_it_lets_admins_open_every_queue(client, admin):
    sign_in(client, admin)
    for team_name in ("support", "warehouse", "finance"):
        html = text(client.get(f"/staff/queues/{team_name}"))
        assert f"{team_name.capitalize()} queue</h1>" in html
        assert 'class="tab" href="/staff/queues/finance"' in html


# What a queue shows -----------------------------------------------------------------


def test_it_lists_the_team_queue_oldest_first_with_age_and_sla(
    app, client, session, customer, team
):
    newer = open_return(app, session, customer, reason="changed_mind")
    older = open_return(app, session, customer)
    age(session, older, hours=30, sla_hours=24)
    age(session, newer, hours=23, sla_hours=24)
    elsewhere = open_return(app, session, customer)
    walk_return(session, elsewhere.id, team, customer, until="ship")
    sign_in(client, team["support"])
    response = client.get("/staff/queues/support")
    html = text(response)
    assert html.index(older.number) < html.index(newer.number)
    assert elsewhere.number not in html
    assert f'<tr id="return-{older.id}" class="row-breached">' in html
    assert "Overdue" in html
    assert re.search(r"by (5 h 59 min|6 h) · was due", html)
    assert "Due soon" in html
    assert "1 d 6 h" in html  # how long the oldest has waited
    assert "Changed my mind" in html
    assert "casey" in html
    assert "<strong>2</strong> waiting" in html
    assert "1 overdue" in html
    assert 'hx-trigger="every 5s"' in html
    assert 'id="queue-tabs"' in html
    assert "HX-Request" in response.headers["Vary"]


def test_it_refreshes_the_queue_region_and_its_counts_by_htmx(app, client, session, customer, team):
    record = open_return(app, session, customer)
    sign_in(client, team["support"])
    html = text(client.get("/staff/queues/support?q=" + record.number, headers=HX))
    assert html.lstrip().startswith('<section id="queue-table"')
    assert f'hx-get="/staff/queues/support?page=1&amp;q={record.number}"' in html
    assert '<nav id="queue-tabs" class="tabs" aria-label="Team queues" hx-swap-oob="true">' in html
    assert "<!doctype html>" not in html


def test_it_says_when_nothing_waits(client, team):
    sign_in(client, team["finance"])
    assert "Nothing waiting</h2>" in text(client.get("/staff/queues/finance"))
    assert "Nothing waiting that matches" in text(client.get("/staff/queues/finance?q=zzz"))


@pytest.mark.parametrize(
    ("query", "shows"),
    [
        ({"reason": "defective"}, {"defective"}),
        ({"state": "INSPECTED"}, {"inspected"}),
        ({"age": "4"}, {"damaged"}),
        ({"q": "NUMBER"}, {"damaged"}),
        ({"q": "ORDER"}, {"damaged"}),
        ({"q": "CASEY"}, {"damaged", "defective", "inspected"}),
    ],
)
def test_it_filters_and_searches_the_queue(app, client, session, customer, team, query, shows):
    returns = {
        "damaged": open_return(app, session, customer),
        "defective": open_return(app, session, customer, reason="defective"),
        "inspected": open_return(app, session, customer),
    }
    age(session, returns["damaged"], hours=5, sla_hours=24)
    walk_return(session, returns["inspected"].id, team, customer, until="complete_inspection")
    damaged = returns["damaged"]
    words = {"NUMBER": damaged.number.lower(), "ORDER": session.get(Order, damaged.order_id).number}
    query = {k: words.get(v, v) for k, v in query.items()}
    sign_in(client, team["support"])
    html = text(client.get("/staff/queues/support", query_string=query, headers=HX))
    assert {name for name, record in returns.items() if record.number in html} == shows


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"state": "COMPLETED"}, "state"),
        ({"reason": "bored"}, "reason"),
        ({"age": "soon"}, "age"),
        ({"age": "0"}, "age"),
    ],
)
def test_it_refuses_filters_no_form_offers(client, team, query, field):
    sign_in(client, team["support"])
    response = client.get("/staff/queues/support", query_string=query)
    assert response.status_code == 422
    assert field in text(response)


def test_it_pages_through_a_long_queue(app, client, session, customer, team):
    for _ in range(3):
        open_return(app, session, customer)
    sign_in(client, team["support"])
    html = text(client.get("/staff/queues/support?per_page=2"))
    assert "Page 1 of 2" in html
    assert 'href="/staff/queues/support?page=2&amp;per_page=2"' in html
    assert "There is nothing on page 4." in text(client.get("/staff/queues/support?page=4"))


# Actions from the queue -------------------------------------------------------------


def test_it_renders_each_action_with_its_fields_and_confirmation(
    app, client, session, customer, team
):
    record = open_return(app, session, customer)
    sign_in(client, team["support"])
    html = text(client.get("/staff/queues/support"))
    assert "Approve…" in html
    assert f'id="act-{record.id}-approve-note"' in html
    assert (
        f'id="act-{record.id}-reject-note" name="note" rows="2" maxlength="2000" required' in html
    )
    assert f'hx-confirm="Reject {record.number}? The customer is told the reason' in html
    assert 'hx-confirm="Approve' not in html
    assert f'hx-target="#return-{record.id}"' in html
    assert '<input type="hidden" name="team" value="support">' in html
    walk_return(session, record.id, team, customer, until="complete_inspection")
    decide = text(client.get("/staff/queues/support"))
    assert (
        f'<option value="STORE_CREDIT" data-confirm="Decide {{amount}} store credit for'
        f' {record.number}?">Store credit</option>'
    ) in decide
    assert 'name="amount_cents" type="text" inputmode="decimal" placeholder="25.00"' in decide
    assert "In dollars, up to $25.00" in decide


def test_it_updates_the_row_in_place_and_tells_the_counters(app, client, session, customer, team):
    record = open_return(app, session, customer)
    token = sign_in(client, team["support"])
    response = post(
        client,
        f"/staff/returns/{record.id}/transitions",
        token,
        htmx=True,
        trigger="approve",
        version="2",
        team="support",
        note="Go ahead",
    )
    assert response.headers["HX-Trigger"] == "queue-changed"
    html = text(response)
    assert html.lstrip().startswith(f'<tr id="return-{record.id}" class="row-moved">')
    assert "and waits on the customer" in html
    assert (
        '<div id="queue-notice" class="queue-notice" aria-live="polite" hx-swap-oob="true">' in html
    )
    assert reload(session, record).state == "APPROVED"


def test_it_keeps_a_row_that_stays_in_the_queue(app, client, session, customer, team):
    record = open_return(app, session, customer)
    walk_return(session, record.id, team, customer, until="ship")
    token = sign_in(client, team["warehouse"])
    response = post(
        client,
        f"/staff/returns/{record.id}/transitions",
        token,
        htmx=True,
        trigger="receive",
        team="warehouse",
    )
    html = text(response)
    assert html.lstrip().startswith(f'<tr id="return-{record.id}">')
    assert "Start inspection" in html
    assert "and stays in this queue" in html


def test_a_row_action_does_not_search_the_queue_to_learn_whether_the_row_stays(
    app, client, session, customer, team
):
    record = open_return(app, session, customer)
    token = sign_in(client, team["support"])
    with statements_run(session) as statements:
        response = post(client, f"/staff/returns/{record.id}/transitions", token, htmx=True,
                        trigger="approve", version="2", team="support")  # fmt: skip
    assert "and waits on the customer" in text(response)
    assert statements
    assert not [s for s in statements if " LIKE " in s.upper()]


def test_staff_sharing_a_queue_each_get_forms_that_carry_their_own_token(
    app, session, customer, team
):
    from tests.builders import make_user

    record = open_return(app, session, customer)
    colleague = make_user(session, "support")
    first, second = app.test_client(), app.test_client()
    sign_in(first, team["support"])
    sign_in(second, colleague)
    form_token = re.compile(r'name="csrf_token" value="([^"]+)"')
    tokens = []
    for client in (first, second):
        html = text(client.get("/staff/queues/support"))
        assert f'<tr id="return-{record.id}">' in html
        tokens.append(form_token.findall(html)[-1])  # the last form is in the row
    assert tokens[0] != tokens[1]
    # the colleague's row form posts with the colleague's own session
    fired = post(second, f"/staff/returns/{record.id}/transitions", tokens[1], htmx=True,
                 trigger="approve", version="2", team="support")  # fmt: skip
    assert fired.status_code == 200
    # the moved return is no longer shown as it was: the first member's next poll drops it
    html = text(first.get("/staff/queues/support", headers=HX))
    assert f'id="return-{record.id}"' not in html


def test_a_row_renders_again_when_its_clock_text_changes(
    app, client, session, customer, team, monkeypatch
):
    monkeypatch.setattr(returns_reads, "ttl", 0)  # every poll reads the queue again
    record = open_return(app, session, customer)
    sign_in(client, team["support"])
    due = []
    for hours in (1, 3):
        age(session, record, hours=hours, sla_hours=24)
        row = row_of(text(client.get("/staff/queues/support")), record)
        assert re.search(f'In this state since [^"]+">{hours} h</span>', row), row
        due.append(re.search(r"Due in ([^<]+)</span>", row).group(1))
    assert due[0].startswith(("23 h", "22 h")), due
    assert due[1].startswith(("21 h", "20 h")), due


def test_a_change_made_by_another_process_shows_within_a_second(
    app, client, session, customer, team
):
    record = open_return(app, session, customer)
    sign_in(client, team["support"])
    assert f'id="return-{record.id}"' in text(client.get("/staff/queues/support", headers=HX))
    # another web worker (or the scheduler) moves it: this process is not told
    session.execute(update(ReturnRequest).where(ReturnRequest.id == record.id).values(team=None))
    time.sleep(1.05)
    assert f'id="return-{record.id}"' not in text(client.get("/staff/queues/support", headers=HX))


def row_of(html: str, record) -> str:
    start = html.index(f'<tr id="return-{record.id}"')
    return html[start : html.index("</tr>", start)]


def test_it_works_without_javascript(app, client, session, customer, team):
    record = open_return(app, session, customer)
    token = sign_in(client, team["support"])
    response = post(
        client,
        f"/staff/returns/{record.id}/transitions",
        token,
        trigger="reject",
        note="Outside warranty",
        next="/staff/queues/support?q=x",
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/staff/queues/support?q=x"
    assert f"{record.number} is now: Rejected." in text(client.get("/staff/queues/support"))
    assert reload(session, record).state == "REJECTED"
    other = open_return(app, session, customer)
    away = post(
        client,
        f"/staff/returns/{other.id}/transitions",
        token,
        trigger="approve",
        next="https://evil.example/",
    )
    assert away.headers["Location"] == f"/staff/returns/{other.id}"


def test_it_decides_an_amount_typed_in_dollars(app, client, session, customer, team):
    record = open_return(app, session, customer)
    walk_return(session, record.id, team, customer, until="complete_inspection")
    token = sign_in(client, team["support"])
    response = post(
        client,
        f"/staff/returns/{record.id}/transitions",
        token,
        htmx=True,
        trigger="decide",
        team="support",
        disposition="REFUND",
        amount_cents="12.50",
    )
    assert "waits on the finance team" in text(response)
    record = reload(session, record)
    assert (record.disposition, record.amount_cents) == ("REFUND", 1250)


@pytest.mark.parametrize(
    ("amount", "status", "words"),
    [("12.5.0", "422", "must be an amount like 12.99"), ("99.00", "422", "")],
)
def test_it_refuses_a_bad_amount_inline(
    app, client, session, customer, team, amount, status, words
):
    record = open_return(app, session, customer)
    walk_return(session, record.id, team, customer, until="complete_inspection")
    token = sign_in(client, team["support"])
    response = post(
        client,
        f"/staff/returns/{record.id}/transitions",
        token,
        htmx=True,
        trigger="decide",
        team="support",
        disposition="REFUND",
        amount_cents=amount,
    )
    assert response.headers["HX-Retarget"] == "#alerts"
    assert response.headers["X-Error-Status"] == status
    assert words in text(response)
    assert reload(session, record).state == "INSPECTED"


@pytest.mark.parametrize(
    ("role", "data", "status"),
    [
        ("support", {"trigger": "approve", "version": "1"}, "409"),  # someone moved it first
        ("warehouse", {"trigger": "approve"}, "403"),
        ("support", {"trigger": "receive"}, "409"),
        ("support", {"trigger": "reject"}, "422"),  # the reason is required
    ],
)
def test_it_shows_refusals_inline_never_a_500(
    app, client, session, customer, team, role, data, status
):
    record = open_return(app, session, customer)
    token = sign_in(client, team[role])
    response = post(
        client, f"/staff/returns/{record.id}/transitions", token, htmx=True, team=role, **data
    )
    assert response.status_code == int(status)  # the real status; app.js swaps it into #alerts
    assert response.headers["HX-Retarget"] == "#alerts"
    assert response.headers["X-Error-Status"] == status
    assert 'class="alert alert-error"' in text(response)
    assert reload(session, record).state == "VALIDATING"


def test_it_refuses_an_action_without_its_csrf_token(app, client, session, customer, team):
    record = open_return(app, session, customer)
    sign_in(client, team["support"])
    response = client.post(f"/staff/returns/{record.id}/transitions", data={"trigger": "approve"})
    assert response.status_code == 400
    assert reload(session, record).state == "VALIDATING"


def test_it_says_a_refund_completes_by_itself(app, client, session, customer, team):
    record = open_return(app, session, customer)
    walk_return(session, record.id, team, customer, until="process", disposition="REFUND")
    sign_in(client, team["finance"])
    assert "Refund sent to the gateway; completes by itself" in text(
        client.get("/staff/queues/finance")
    )


def test_it_offers_a_retry_when_the_refund_failed(app, client, session, customer, team):
    record = refund_failed(app, session, customer, team)
    sign_in(client, team["finance"])
    html = text(client.get("/staff/queues/finance"))
    assert "Retry refund" in html
    detail = text(client.get(f"/staff/returns/{record.id}"))
    assert "Failed" in detail


# Counts in the nav and on the staff home ---------------------------------------------


def test_it_counts_each_teams_queue_in_the_nav(app, client, session, customer, team, admin):
    open_return(app, session, customer)
    second = open_return(app, session, customer)
    walk_return(session, second.id, team, customer, until="ship")
    sign_in(client, team["support"])
    html = text(client.get("/staff"))
    assert 'hx-trigger="every 5s, queue-changed from:body"' in html
    assert 'href="/staff/queues/support"' in html
    assert 'Support queue <span class="count-pill">1</span>' in html
    partial = text(client.get("/staff/queues/nav", headers=HX))
    assert partial.lstrip().startswith('<a id="nav-queues"')
    admin_client = app.test_client()
    sign_in(admin_client, admin)
    assert 'Queues <span class="count-pill">2</span>' in text(admin_client.get("/staff"))


def test_it_still_renders_pages_when_the_counts_cannot_be_read(client, team, monkeypatch):
    def broken(*args, **kwargs):
        raise OperationalError("SELECT", {}, Exception("database is gone"))

    sign_in(client, team["warehouse"])
    monkeypatch.setattr(views.returns.staff, "queue_counts", broken)
    response = client.get("/staff")
    assert response.status_code == 200
    assert 'href="/staff/queues/warehouse"' in text(response)  # the home still links it
    assert 'id="nav-queues"' in text(response)
    assert "count-pill" not in text(response)
    assert text(client.get("/staff/queues/nav")).strip() == '<span id="nav-queues"></span>'


# The whole return -------------------------------------------------------------------


def test_it_shows_staff_the_whole_return(app, client, session, customer, team):
    record = open_return(app, session, customer)
    customer_client = app.test_client()
    token = sign_in(customer_client, customer)
    customer_client.post(
        f"/returns/{record.id}/photos",
        data={"csrf_token": token, "photo": (io.BytesIO(make_image()), "p.png")},
        content_type="multipart/form-data",
    )
    walk_return(session, record.id, team, customer, until="start_inspection")
    for trigger, actor, fields in (
        ("complete_inspection", "warehouse", {"condition": "damaged", "notes": "Dent on the lid"}),
        ("decide", "support", {"disposition": "STORE_CREDIT", "amount_cents": 2000}),
    ):
        fire_return_trigger(
            session,
            record.id,
            trigger,
            actor=team[actor],
            fields=fields,
            expected_version=None,
            now=utcnow(),
        )
    sign_in(client, team["finance"])
    response = client.get(f"/staff/returns/{record.id}")
    html = text(response)
    assert f"Return {record.number}" in html
    assert "Workflow version <strong>1</strong>" in html
    assert 'hx-trigger="every 5s"' in html
    assert f'<img src="/returns/{record.id}/photos/' in html
    assert "Within the return window" in html
    assert "bought 2, in open or completed returns 1 (this return: 1)" in html
    assert "Inspection grade</dt><dd>Damaged" in html
    assert 'Inspection notes</dt><dd class="prose">Dent on the lid' in html
    assert "parcel</dt><dd>DHL" in html
    assert "Disposition</dt><dd>Store credit</dd>" in html
    assert "$20.00 <span" in html
    assert "Awaiting review → <strong>Approved: ship it back</strong>" in html
    assert 'sam <span class="badge badge-role">Support</span>' in html
    assert "tracking number:</span> JD014600006281" in html
    assert "amount cents:</span> $20.00" in html
    assert "Issue store credit" in html
    assert f'hx-confirm="Add $20.00 store credit for {record.number}?"' in html
    assert 'href="/staff/queues/finance">Finance queue</a>' in html
    assert "SLA due" in html


def test_it_refreshes_the_whole_return_only_when_it_changed(app, client, session, customer, team):
    record = open_return(app, session, customer)
    sign_in(client, team["support"])
    path = f"/staff/returns/{record.id}"
    live = text(client.get(path, headers=HX))
    assert live.lstrip().startswith('<section id="return-live"')
    stamp = stamp_of(live)
    assert client.get(path, query_string={"seen": stamp}, headers=HX).status_code == 204
    age(session, record, hours=30, sla_hours=24)
    assert client.get(path, query_string={"seen": stamp}, headers=HX).status_code == 204
    assert "SLA breached" in text(client.get(path))


def test_it_acts_from_the_whole_return_by_htmx(app, client, session, customer, team):
    record = open_return(app, session, customer)
    token = sign_in(client, team["support"])
    response = post(
        client, f"/staff/returns/{record.id}/transitions", token, htmx=True, trigger="approve"
    )
    assert response.headers["HX-Trigger"] == "queue-changed"
    html = text(response)
    assert html.lstrip().startswith('<section id="return-live"')
    assert "Waiting on the customer" in html
    assert "Cancel return" in html  # support may still cancel it
    assert 'value="approve"' not in html


def test_it_shows_a_finished_return_with_what_was_sent(app, client, session, customer, team):
    record = open_return(app, session, customer)
    walk_return(session, record.id, team, customer, until="process", disposition="REPLACEMENT")
    fire_return_trigger(
        session,
        record.id,
        "complete",
        actor=team["warehouse"],
        fields={"tracking_number": "OUT-42"},
        expected_version=None,
        now=utcnow(),
    )
    sign_in(client, team["warehouse"])
    html = text(client.get(f"/staff/returns/{record.id}"))
    assert "Sent to the customer</dt><dd><code>OUT-42</code>" in html
    assert 'Replacement order</dt><dd><a href="/orders/' in html
    assert "Restocked</dt><dd>Yes" in html
    assert "queue</a>" not in html.split("<h1>")[0]  # it waits on nobody now


def test_it_says_when_a_refund_is_with_the_gateway(app, client, session, customer, team):
    record = open_return(app, session, customer)
    walk_return(session, record.id, team, customer, until="process", disposition="REFUND")
    sign_in(client, team["finance"])
    html = text(client.get(f"/staff/returns/{record.id}"))
    assert "The refund is with the payment gateway" in html
    execute_refunds(session, app.extensions["backroom.payments"], now=utcnow())
    assert "re_" in text(client.get(f"/staff/returns/{record.id}"))


def test_it_answers_an_unknown_return_with_404(client, team):
    sign_in(client, team["support"])
    assert client.get("/staff/returns/424242").status_code == 404
    assert client.get("/staff/returns/99999999999999").status_code == 404


def test_it_gives_no_counts_to_anyone_but_staff(app):
    with app.test_request_context("/"):
        html = render_template_string("{{ queue_totals() }} {{ nav_queues() }}")
    assert html == "None None"
