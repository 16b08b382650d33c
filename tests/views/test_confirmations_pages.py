"""Confirmations say what will happen, with the real return and amounts, and the page has
its own dialog to ask them in (app.js opens it for hx-confirm and data-confirm)."""

import html as entities

import pytest
from sqlalchemy import update

from app.models.payments import Payment
from app.models.returns import ReturnRequest
from app.services.users import create_user
from tests.builders import make_user, walk_return
from tests.conftest import sign_in, statements_run
from tests.views.conftest import text
from tests.views.returns_helpers import make_team, open_return, refund_failed


@pytest.fixture
def team(session):
    return make_team(session)


def questions(html: str) -> list[str]:
    """Every hx-confirm and data-confirm question on the page, as a person reads it."""
    found = []
    for attribute in ('hx-confirm="', 'data-confirm="'):
        for part in html.split(attribute)[1:]:
            found.append(entities.unescape(part.split('"', 1)[0]))
    return found


def record_order(session, record):
    from app.models.orders import Order

    return session.get(Order, record.order_id)


def decided(app, session, customer, team, disposition, **kw):
    record = open_return(app, session, customer, **kw)
    walk_return(session, record.id, team, customer, until="decide", disposition=disposition)
    return record


def test_the_page_has_one_labelled_confirmation_dialog(client, customer):
    sign_in(client, customer)
    html = text(client.get("/products"))
    assert html.count("<dialog") == 1
    assert 'id="confirm-dialog"' in html
    assert 'aria-labelledby="confirm-title" aria-describedby="confirm-question"' in html
    assert '<h2 id="confirm-title" class="confirm-title">Please confirm</h2>' in html
    assert (
        '<button type="submit" value="cancel" class="btn btn-quiet" data-confirm-cancel>Cancel'
        in html
    )
    assert 'value="confirm" class="btn btn-primary" data-confirm-ok>Confirm</button>' in html
    assert "style=" not in html.split('id="confirm-dialog"')[1].split("</dialog>")[0]


@pytest.mark.parametrize(
    ("disposition", "asked"),
    [
        ("REFUND", "Refund $25.00 to the card ending 4242 for {}?"),
        ("STORE_CREDIT", "Add $25.00 store credit for {}?"),
    ],
)
def test_paying_out_names_the_amount_and_where_it_goes(
    app, client, session, customer, team, disposition, asked
):
    record = decided(app, session, customer, team, disposition)
    sign_in(client, team["finance"])
    question = asked.format(record.number)
    assert question in questions(text(client.get("/staff/queues/finance")))
    assert question in questions(text(client.get(f"/staff/returns/{record.id}")))


def test_retrying_a_failed_refund_asks_with_the_amount_and_the_card(
    app, client, session, customer, team
):
    record = refund_failed(app, session, customer, team)
    sign_in(client, team["finance"])
    question = (
        f"The last try failed. Send $25.00 to the card ending 4242 again for {record.number}?"
    )
    assert questions(text(client.get("/staff/queues/finance"))) == [question]
    assert question in questions(text(client.get(f"/staff/returns/{record.id}")))
    # Part paid as store credit: a retry sends only the card's part again.
    other = open_return(app, session, customer, order=record_order(session, record))
    session.execute(
        update(Payment).where(Payment.order_id == record.order_id).values(amount_cents=3500)
    )
    session.execute(
        update(ReturnRequest)
        .where(ReturnRequest.id == other.id)
        .values(disposition="REFUND", amount_cents=2500, refund_status="succeeded")
    )
    session.commit()
    assert questions(text(client.get(f"/staff/returns/{record.id}"))) == [
        f"The last try failed. Send $10.00 to the card ending 4242 again for {record.number}?"
        " ($15.00 was added as store credit the first time.)"
    ]


def test_a_refund_the_card_cannot_take_back_whole_says_where_the_rest_goes(
    app, client, session, customer, team
):
    record = decided(app, session, customer, team, "REFUND")
    other = open_return(app, session, customer, order=record_order(session, record))
    # Say $15.00 of the $50.00 order was paid with store credit: $35.00 went on the card.
    session.execute(
        update(Payment).where(Payment.order_id == record.order_id).values(amount_cents=3500)
    )
    session.commit()
    sign_in(client, team["finance"])
    html = text(client.get(f"/staff/returns/{record.id}"))
    assert f"Refund $25.00 to the card ending 4242 for {record.number}?" in questions(html)
    # And another return of the order took $25.00 of it back to the card already.
    session.execute(
        update(ReturnRequest)
        .where(ReturnRequest.id == other.id)
        .values(disposition="REFUND", amount_cents=2500, refund_status="succeeded")
    )
    session.commit()
    html = text(client.get(f"/staff/returns/{record.id}"))
    assert (
        f"Refund $25.00 for {record.number}: $10.00 to the card ending 4242 and $15.00 as"
        " store credit?"
    ) in questions(html)


def test_deciding_asks_with_the_chosen_disposition_and_amount(app, client, session, customer, team):
    record = open_return(app, session, customer)
    walk_return(session, record.id, team, customer, until="complete_inspection")
    sign_in(client, team["support"])
    asked = questions(text(client.get(f"/staff/returns/{record.id}")))
    n = record.number
    assert f"Record the decision for {n}? The customer is told at once." in asked
    # Each disposition's own question; app.js fills in {amount} from the amount field.
    assert f"Decide a refund of {{amount}} for {n}?" in asked
    assert f"Decide {{amount}} store credit for {n}?" in asked
    assert f"Decide a replacement for {n}?" in asked
    assert f"Decide a repair for {n}?" in asked
    assert f"Decide not to accept {n} and send the item back to the customer?" in asked
    assert 'data-all="$25.00"' in text(client.get(f"/staff/returns/{record.id}"))


def test_rejecting_and_cancelling_say_what_follows(app, client, session, customer, team):
    record = open_return(app, session, customer)
    sign_in(client, team["support"])
    asked = questions(text(client.get("/staff/queues/support")))
    assert (
        f"Reject {record.number}? The customer is told the reason you give, and the return"
        " is closed."
    ) in asked
    cancel = f"Cancel return {record.number}? It is closed and nothing more happens to it."
    assert cancel in asked
    assert not [q for q in asked if "Are you sure" in q or q.startswith("Approve")]
    own = app.test_client()
    sign_in(own, customer)
    assert cancel in questions(text(own.get(f"/returns/{record.id}")))


def test_deactivating_a_user_names_them_and_says_what_follows(client, session, admin):
    make_user(session, "warehouse", username="wes")
    sign_in(client, admin)
    asked = questions(text(client.get("/admin/users")))
    assert "Deactivate wes? They will not be able to sign in." in asked
    create_user(session, username="tess", password="password123", role="support",
                name="Tess <Lead>", email="tess@example.com")  # fmt: skip
    asked = questions(text(client.get("/admin/users")))
    assert "Deactivate Tess <Lead> (tess)? They will not be able to sign in." in asked


def test_a_queue_of_refunds_reads_their_payouts_in_a_fixed_number_of_queries(
    app, client, session, customer, team
):
    def count() -> int:
        with statements_run(session) as statements:
            html = text(client.get("/staff/queues/finance"))
        assert html.count("to the card ending 4242") == len(records)
        return len([s for s in statements if "payments" in s])

    records = [decided(app, session, customer, team, "REFUND")]
    sign_in(client, team["finance"])
    one = count()
    records += [decided(app, session, customer, team, "REFUND") for _ in range(3)]
    assert count() == one == 1
