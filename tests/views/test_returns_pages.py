"""The customer's return pages: asking from an order, the live timeline, shipping,
cancelling, photos, outcomes and notices (and staff's /returns list)."""

import io
import re
from datetime import timedelta
from types import SimpleNamespace

import pytest
from PIL import Image
from sqlalchemy import func, select, update
from sqlalchemy.exc import OperationalError

import app.services.returns.photos as app_photos
import views.returns.customer
from app.db import utcnow
from app.models.orders import Order
from app.models.returns import Notice, ReturnPhoto, ReturnRequest
from app.services.returns import (
    complete_settled_returns,
    deliver_notices,
    execute_refunds,
    fire_return_trigger,
)
from tests.builders import (
    make_image,
    make_user,
    publish_new_version,
    rma_with_awaiting_info,
    walk_return,
)
from tests.conftest import csrf_token, sign_in
from tests.views.conftest import text
from tests.views.returns_helpers import (
    HX,
    make_team,
    open_return,
    paid_order,
    post,
    stamp_of,
)
from views.returns.parts import Step, duration, guidance, progress
from workflows.definitions import load_shipped
from workflows.schema import parse_definition


def count_returns(session):
    return session.scalar(select(func.count()).select_from(ReturnRequest))


def fire(session, record, trigger, actor, **fields):
    return fire_return_trigger(
        session, record.id, trigger, actor=actor, fields=fields, expected_version=None, now=utcnow()
    )


# The order page and the form --------------------------------------------------------


def test_it_offers_return_items_on_an_eligible_order(app, client, session, customer):
    order = paid_order(app, session, customer)
    sign_in(client, customer)
    html = text(client.get(f"/orders/{order.id}"))
    assert f'href="/orders/{order.id}/returns/new"' in html
    assert "You can return items from this order until" in html


def test_it_says_why_an_order_can_no_longer_be_returned(app, client, session, customer):
    order = paid_order(app, session, customer)
    session.execute(
        update(Order).where(Order.id == order.id).values(created_at=utcnow() - timedelta(days=40))
    )
    session.commit()
    sign_in(client, customer)
    html = text(client.get(f"/orders/{order.id}"))
    assert "return window closed on" in html
    assert "/returns/new" not in html
    form = text(client.get(f"/orders/{order.id}/returns/new"))
    assert "The return window has closed." in form
    assert "This order cannot be returned" in form
    assert 'id="return-form"' not in form


def test_it_says_when_every_unit_is_already_being_returned(app, client, session, customer):
    open_return(app, session, customer, quantity=2, bought=2)
    order = session.scalars(select(Order).where(Order.customer_id == customer.id)).one()
    sign_in(client, customer)
    html = text(client.get(f"/orders/{order.id}"))
    assert "Every unit of this order is already being returned." in html
    assert 'href="/returns">See my returns' in html
    form = text(client.get(f"/orders/{order.id}/returns/new"))
    assert "Nothing is left to return." in form
    assert "0 of 2 can be returned (2 already in a return)" in form


def test_it_offers_returns_only_to_the_customer_on_paid_shop_orders(app, client, session, customer):
    record = open_return(app, session, customer)
    staff = make_team(session)
    walk_return(
        session,
        record.id,
        staff,
        customer,
        until="process",
        disposition="REPLACEMENT",
        condition="used",
    )
    fire(session, record, "complete", staff["warehouse"], tracking_number="OUT-1")
    sign_in(client, customer)
    replacement = text(client.get(f"/orders/{record.replacement_order_id}"))
    assert 'id="order-returns"' not in replacement
    staff_client = app.test_client()
    sign_in(staff_client, staff["support"])
    assert 'id="order-returns"' not in text(staff_client.get(f"/orders/{record.order_id}"))


def test_it_shows_the_form_with_what_each_line_allows(app, client, session, customer):
    order = paid_order(app, session, customer, quantity=3, name="Mug")
    sign_in(client, customer)
    html = text(client.get(f"/orders/{order.id}/returns/new"))
    line_id = order.lines[0].id
    assert 'enctype="multipart/form-data"' in html
    assert f'name="qty-{line_id}"' in html
    assert 'max="3" value="1"' in html  # one line: one unit chosen to start with
    assert "Arrived damaged" in html
    assert 'name="photos"' in html
    assert "Up to 5 photos" in html
    assert "3 of 3 can be returned" in html
    assert 'id="return-lines" hx-get=' in html  # the answer follows the form
    assert 'hx-target="#return-check"' in html


def test_it_checks_quantities_as_they_change(app, client, session, customer):
    order = paid_order(app, session, customer, quantity=2)
    open_return(app, session, customer, order=order, quantity=1)
    line = f"qty-{order.lines[0].id}"
    sign_in(client, customer)
    path = f"/orders/{order.id}/returns/new"
    over = text(client.get(path, query_string={line: "2"}, headers=HX))
    assert over.lstrip().startswith('<aside id="return-check"')
    assert "only 1 can still be returned" in over
    fine = text(client.get(path, query_string={line: "1"}, headers=HX))
    assert "1 item worth $25.00 as paid." in fine
    assert "data-problem" not in fine
    bad = text(client.get(path, query_string={line: "two"}, headers=HX))
    assert "Quantity must be a whole number." in bad
    none = text(client.get(path, query_string={line: "0"}, headers=HX))
    assert "Choose how many of each item you are returning." in none


def test_it_answers_another_customers_order_with_404(app, client, session, customer):
    order = paid_order(app, session, make_user(session, "customer"))
    token = sign_in(client, customer)
    assert client.get(f"/orders/{order.id}/returns/new").status_code == 404
    response = post(client, f"/orders/{order.id}/returns", token, reason="damaged")
    assert response.status_code == 404
    assert count_returns(session) == 0


def test_it_keeps_staff_off_the_customer_return_form(app, client, session, customer):
    order = paid_order(app, session, customer)
    sign_in(client, make_user(session, "support"))
    assert client.get(f"/orders/{order.id}/returns/new").status_code == 403


# Opening a return -------------------------------------------------------------------


def test_it_opens_a_return_with_photos_stripped_of_metadata(app, client, session, customer):
    order = paid_order(app, session, customer, quantity=2)
    exif = Image.Exif()
    exif[0x010F] = "SpyCam"
    photo = make_image("JPEG", exif=exif.tobytes())
    token = sign_in(client, customer)
    response = client.post(
        f"/orders/{order.id}/returns",
        data={
            "csrf_token": token,
            f"qty-{order.lines[0].id}": "2",
            "reason": "defective",
            "description": "Stopped working after a day.",
            "photos": [(io.BytesIO(photo), "a.jpg"), (io.BytesIO(make_image("PNG")), "b.png")],
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    record = session.scalars(select(ReturnRequest)).one()
    assert response.headers["Location"] == f"/returns/{record.id}"
    assert (record.reason, record.state, record.lines[0].quantity) == ("defective", "VALIDATING", 2)
    photos = session.scalars(select(ReturnPhoto).order_by(ReturnPhoto.id)).all()
    assert [p.content_type for p in photos] == ["image/jpeg", "image/png"]
    page = text(client.get(response.headers["Location"]))
    assert f"Return {record.number} is requested" in page
    assert f'src="/returns/{record.id}/photos/{photos[0].id}"' in page
    with client.get(f"/returns/{record.id}/photos/{photos[0].id}") as served:
        assert served.mimetype == "image/jpeg"
        assert b"SpyCam" not in served.data
        assert not Image.open(io.BytesIO(served.data)).getexif()


def test_five_photos_of_almost_five_megabytes_fit_in_one_form(app, client, session, customer):
    from werkzeug.datastructures import FileStorage, MultiDict
    from werkzeug.test import stream_encode_multipart

    order = paid_order(app, session, customer, quantity=1)
    token = sign_in(client, customer)
    big = make_image("PNG", size=(40, 30)) + b"\0" * (5 * 1024 * 1024 - 4096)  # pads a real PNG
    fields = MultiDict(
        [("csrf_token", token), (f"qty-{order.lines[0].id}", "1"), ("reason", "defective")]
        + [("photos", FileStorage(io.BytesIO(big), f"{n}.png", content_type="image/png"))
           for n in range(5)]
    )  # fmt: skip
    # Encoded in memory: werkzeug's test client would spool 25 MB to a file it never closes.
    body, length, boundary = stream_encode_multipart(fields, use_tempfile=False)
    response = client.post(
        f"/orders/{order.id}/returns",
        input_stream=body,
        content_length=length,
        content_type=f"multipart/form-data; boundary={boundary}",
    )
    assert response.status_code == 302  # not a 413 for the whole form
    assert len(session.scalars(select(ReturnPhoto)).all()) == 5


def test_it_says_what_is_missing_and_keeps_what_was_typed(app, client, session, customer):
    order = paid_order(app, session, customer)
    token = sign_in(client, customer)
    response = post(
        client,
        f"/orders/{order.id}/returns",
        token,
        **{f"qty-{order.lines[0].id}": "0", "description": "Too small"},
    )
    assert response.status_code == 422
    html = text(response)
    assert "Reason must be one of" in html
    assert "Items: choose at least one item to return" in html
    assert ">Too small</textarea>" in html
    assert count_returns(session) == 0


def test_it_refuses_more_units_than_can_be_returned(app, client, session, customer):
    order = paid_order(app, session, customer, quantity=2)
    open_return(app, session, customer, order=order, quantity=1)
    line = order.lines[0].id
    token = sign_in(client, customer)
    response = post(
        client, f"/orders/{order.id}/returns", token, **{f"qty-{line}": "2", "reason": "damaged"}
    )
    assert response.status_code == 422
    assert "Quantity only 1 of 2 can still be returned" in text(response)
    assert count_returns(session) == 1


def test_it_refuses_a_quantity_that_is_not_a_number(app, client, session, customer):
    order = paid_order(app, session, customer)
    token = sign_in(client, customer)
    response = post(
        client,
        f"/orders/{order.id}/returns",
        token,
        **{f"qty-{order.lines[0].id}": "-1", "reason": "damaged"},
    )
    assert response.status_code == 422
    assert "Quantity must be a whole number" in text(response)


def test_it_refuses_once_the_window_has_closed(app, client, session, customer, monkeypatch):
    order = paid_order(app, session, customer)
    token = sign_in(client, customer)
    later = utcnow() + timedelta(days=31)
    monkeypatch.setattr(views.returns.customer, "utcnow", lambda: later)
    response = post(
        client,
        f"/orders/{order.id}/returns",
        token,
        **{f"qty-{order.lines[0].id}": "1", "reason": "damaged"},
    )
    assert response.status_code == 422
    assert "The 30-day return window closed on" in text(response)


@pytest.mark.parametrize(
    ("files", "problem"),
    [
        ([(b"GIF89a not really", "x.gif")], "x.gif: the file is not a readable"),
        ([(b"\xff" * 3000, "huge.jpg")], "huge.jpg: a photo may be at most 0 MB"),
        ([(make_image(), f"{i}.png") for i in range(6)], "You may attach at most 5 photos."),
    ],
)
def test_it_refuses_bad_photos_and_opens_nothing(
    app, client, session, customer, files, problem, monkeypatch
):
    # A small limit keeps the test client's upload in memory (it leaks big spooled files).
    monkeypatch.setattr(app_photos, "MAX_BYTES", 2000)
    monkeypatch.setattr(views.returns.customer, "MAX_BYTES", 2000)
    order = paid_order(app, session, customer)
    token = sign_in(client, customer)
    response = client.post(
        f"/orders/{order.id}/returns",
        data={
            "csrf_token": token,
            f"qty-{order.lines[0].id}": "1",
            "reason": "damaged",
            "photos": [(io.BytesIO(data), name) for data, name in files],
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    assert problem in text(response)
    assert count_returns(session) == 0


def test_it_refuses_a_form_without_its_csrf_token(app, client, session, customer):
    order = paid_order(app, session, customer)
    sign_in(client, customer)
    response = client.post(
        f"/orders/{order.id}/returns", data={f"qty-{order.lines[0].id}": "1", "reason": "damaged"}
    )
    assert response.status_code == 400
    assert count_returns(session) == 0


# The return page --------------------------------------------------------------------


def test_it_shows_the_return_with_its_stepper_and_a_polling_timeline(
    app, client, session, customer
):
    record = open_return(app, session, customer)
    sign_in(client, customer)
    response = client.get(f"/returns/{record.id}")
    html = text(response)
    assert 'hx-trigger="every 5s"' in html
    assert "Awaiting review" in html  # the status in words
    assert '<li class="step step-current" aria-current="step">' in html
    assert "Review</span>" in html
    assert "We are reviewing your request" in html
    assert 'id="return-timeline"' in html
    assert "Submitted" in html
    assert "Cancel return" in html
    assert 'hx-confirm="Cancel return' in html
    assert "Arrived damaged" in html
    assert "The lid is cracked." in html
    assert "HX-Request" in response.headers["Vary"]


def test_it_answers_a_poll_with_the_live_region_or_204_when_nothing_changed(
    app, client, session, customer
):
    record = open_return(app, session, customer)
    sign_in(client, customer)
    path = f"/returns/{record.id}"
    live = client.get(path, headers=HX)
    assert text(live).lstrip().startswith('<section id="return-live"')
    stamp = stamp_of(text(live))
    quiet = client.get(path, query_string={"seen": stamp}, headers=HX)
    assert quiet.status_code == 204
    assert quiet.data == b""
    assert "HX-Request" in quiet.headers["Vary"]
    fire(session, record, "approve", make_user(session, "support"), note="Send it back")
    moved = client.get(path, query_string={"seen": stamp}, headers=HX)
    assert moved.status_code == 200
    assert "Approved: ship it back" in text(moved)
    assert "“Send it back”" in text(moved)
    assert stamp_of(text(moved)) != stamp
    # Without htmx the page is whole whatever `seen` says.
    assert "<!doctype html>" in text(client.get(path, query_string={"seen": stamp}))


def test_it_hides_other_customers_returns_and_photos(app, client, session, customer):
    record = open_return(app, session, customer)
    photo = post_photo(app.test_client(), session, customer, record)
    other = make_user(session, "customer")
    token = sign_in(client, other)
    for response in (
        client.get(f"/returns/{record.id}"),
        client.get(f"/returns/{record.id}/photos/{photo.id}"),
        post(client, f"/returns/{record.id}/transitions", token, trigger="cancel"),
    ):
        assert response.status_code == 404
        assert record.number not in text(response)
    assert client.get("/returns/99999").status_code == 404
    assert client.get(f"/returns/{record.id}/photos/99999").status_code == 404


def test_it_sends_staff_to_the_staff_page_of_a_return(app, client, session, customer):
    record = open_return(app, session, customer)
    sign_in(client, make_user(session, "warehouse"))
    response = client.get(f"/returns/{record.id}")
    assert response.status_code == 302
    assert response.headers["Location"] == f"/staff/returns/{record.id}"


# Acting on it -----------------------------------------------------------------------


def test_it_lets_the_customer_ship_an_approved_return(app, client, session, customer):
    record = open_return(app, session, customer)
    fire(session, record, "approve", make_user(session, "support"))
    token = sign_in(client, customer)
    page = text(client.get(f"/returns/{record.id}"))
    assert "Shipping details" in page
    assert 'name="carrier"' in page
    response = post(
        client,
        f"/returns/{record.id}/transitions",
        token,
        trigger="ship",
        version="3",
        carrier="DHL",
        tracking_number="JD0146",
    )
    assert response.status_code == 302
    session.expire_all()
    shipped = session.get(ReturnRequest, record.id)
    assert (shipped.state, shipped.carrier, shipped.tracking_number) == (
        "SHIPPING",
        "DHL",
        "JD0146",
    )
    html = text(client.get(response.headers["Location"]))
    assert f"Return {record.number}: On its way back." in html
    assert "DHL · <code>JD0146</code>" in html


def test_it_ships_by_htmx_and_answers_with_the_live_region(app, client, session, customer):
    record = open_return(app, session, customer)
    fire(session, record, "approve", make_user(session, "support"))
    token = sign_in(client, customer)
    response = post(
        client,
        f"/returns/{record.id}/transitions",
        token,
        htmx=True,
        trigger="ship",
        carrier="UPS",
        tracking_number="1Z999",
    )
    assert response.headers["HX-Trigger"] == "return-changed"
    html = text(response)
    assert html.lstrip().startswith('<section id="return-live"')
    assert "On its way back" in html
    assert "Shipping details" not in html


def test_it_lets_the_customer_cancel_while_allowed(app, client, session, customer):
    record = open_return(app, session, customer)
    token = sign_in(client, customer)
    response = post(
        client,
        f"/returns/{record.id}/transitions",
        token,
        htmx=True,
        trigger="cancel",
        note="Found the receipt",
    )
    html = text(response)
    assert "This return was cancelled." in html
    assert '<li class="step step-stopped">' in html
    assert "Cancel return" not in html
    session.expire_all()
    assert session.get(ReturnRequest, record.id).state == "CANCELLED"
    page = text(client.get(f"/returns/{record.id}"))
    assert "No photos were added." in page
    assert 'name="photo"' not in page


def test_it_answers_a_stale_click_with_an_inline_409(app, client, session, customer):
    record = open_return(app, session, customer)
    token = sign_in(client, customer)
    response = post(
        client, f"/returns/{record.id}/transitions", token, htmx=True, trigger="cancel", version="1"
    )
    assert response.headers["HX-Retarget"] == "#alerts"
    assert response.headers["X-Error-Status"] == "409"
    assert "reload it" in text(response)
    session.expire_all()
    assert session.get(ReturnRequest, record.id).state == "VALIDATING"


@pytest.mark.parametrize(
    ("data", "status", "words"),
    [
        ({"trigger": "ship", "carrier": "DHL"}, 422, "tracking_number"),
        ({"trigger": ""}, 422, "trigger"),
        ({"trigger": "ship", "version": "soon"}, 422, "version"),
        ({"trigger": "receive"}, 409, "cannot be done while"),
    ],
)
def test_it_refuses_what_the_customer_may_not_do(
    app, client, session, customer, data, status, words
):
    record = open_return(app, session, customer)
    fire(session, record, "approve", make_user(session, "support"))
    token = sign_in(client, customer)
    response = post(client, f"/returns/{record.id}/transitions", token, **data)
    assert response.status_code == status
    assert words in text(response)


def test_it_forbids_the_customer_staff_steps(app, client, session, customer):
    record = open_return(app, session, customer)
    token = sign_in(client, customer)
    response = post(
        client, f"/returns/{record.id}/transitions", token, htmx=True, trigger="approve"
    )
    assert response.headers["X-Error-Status"] == "403"
    assert "may not" in text(response)


# Outcomes ---------------------------------------------------------------------------


def settle(app, session):
    execute_refunds(session, app.extensions["backroom.payments"], now=utcnow())
    complete_settled_returns(session, now=utcnow())
    session.expire_all()


@pytest.mark.parametrize(
    ("disposition", "finish", "words"),
    [
        ("REFUND", None, ["We refunded $25.00.", "Refund reference", "re_", "Succeeded"]),
        ("STORE_CREDIT", None, ["We added $25.00 to your store credit.", 'href="/orders#credit"']),
        ("REPLACEMENT", {"tracking_number": "OUT-7"}, ["Your replacement is on its way.", "OUT-7"]),
        ("REPAIR", {"return_tracking": "OUT-8"}, ["Your repaired item is on its way", "OUT-8"]),
        ("REJECT", {"return_tracking": "OUT-9"}, ["The item is on its way back to you.", "OUT-9"]),
    ],
)
def test_it_shows_each_outcome(app, client, session, customer, disposition, finish, words):
    record = open_return(app, session, customer)
    staff = make_team(session)
    walk_return(session, record.id, staff, customer, until="process", disposition=disposition)
    sign_in(client, customer)
    during = text(client.get(f"/returns/{record.id}"))
    assert "Condition we found" in during
    assert "Like new" in during
    if finish:
        fire(session, record, "complete", staff["warehouse"], **finish)
    settle(app, session)
    html = text(client.get(f"/returns/{record.id}"))
    assert "Completed" in html
    assert html.count('class="step step-done"') == 8
    for word in words:
        assert word in html
    if disposition == "REPLACEMENT":
        replacement = session.get(Order, session.get(ReturnRequest, record.id).replacement_order_id)
        assert f'href="/orders/{replacement.id}">{replacement.number}</a>' in html


@pytest.mark.parametrize(
    ("disposition", "words"),
    [
        ("REFUND", "We are refunding $25.00 to your card."),
        ("STORE_CREDIT", "We are adding $25.00 to your store credit."),
        ("REPLACEMENT", "We are sending you a replacement."),
        ("REPAIR", "We are repairing the item"),
        ("REJECT", "We could not accept the return; we are sending the item back"),
    ],
)
def test_it_says_what_happens_after_the_decision(
    app, client, session, customer, disposition, words
):
    record = open_return(app, session, customer)
    walk_return(
        session, record.id, make_team(session), customer, until="decide", disposition=disposition
    )
    sign_in(client, customer)
    html = text(client.get(f"/returns/{record.id}"))
    assert words in html
    assert "Outcome: " in html  # the decision in the timeline


@pytest.mark.parametrize(
    ("until", "words"),
    [
        ("ship", "your parcel is on its way to us"),
        ("receive", "Your parcel has arrived and we are inspecting it."),
        ("complete_inspection", "We inspected the items and are deciding what happens next."),
    ],
)
def test_it_says_where_the_parcel_is(app, client, session, customer, until, words):
    record = open_return(app, session, customer)
    walk_return(session, record.id, make_team(session), customer, until=until)
    sign_in(client, customer)
    assert words in text(client.get(f"/returns/{record.id}"))


def test_it_shows_why_a_return_was_rejected(app, client, session, customer):
    record = open_return(app, session, customer)
    fire(session, record, "reject", make_user(session, "support"), note="Past the warranty")
    sign_in(client, customer)
    html = text(client.get(f"/returns/{record.id}"))
    assert "We could not accept this return." in html
    assert "“Past the warranty”" in html
    assert "Support team" in html
    assert '<li class="step step-stopped">' in html
    assert "Rejected</span>" in html


# Photos -----------------------------------------------------------------------------


def post_photo(client, session, customer, record, data=None):
    token = sign_in(client, customer)
    response = client.post(
        f"/returns/{record.id}/photos",
        data={"csrf_token": token, "photo": (io.BytesIO(data or make_image()), "p.png")},
        content_type="multipart/form-data",
    )
    # Without htmx: back to the return's page, where the flash says it was added.
    assert response.status_code == 302, text(response)[:300]
    assert response.headers["Location"] == f"/returns/{record.id}"
    return session.scalars(select(ReturnPhoto).order_by(ReturnPhoto.id.desc())).first()


def test_it_adds_photos_with_or_without_htmx(app, client, session, customer):
    record = open_return(app, session, customer)
    first = post_photo(client, session, customer, record)
    page = text(client.get(f"/returns/{record.id}"))
    assert "Your photo was added." in page
    assert "1 of 5" in page
    token = csrf_token(client)
    response = client.post(
        f"/returns/{record.id}/photos",
        data={"csrf_token": token, "photo": (io.BytesIO(make_image("WEBP")), "p.webp")},
        content_type="multipart/form-data",
        headers=HX,
    )
    html = text(response)
    assert html.lstrip().startswith('<section id="return-photos"')
    assert "2 of 5" in html
    assert f"/photos/{first.id}" in html


def test_it_refuses_an_upload_without_a_photo_or_of_another_kind(app, client, session, customer):
    record = open_return(app, session, customer)
    token = sign_in(client, customer)
    empty = client.post(
        f"/returns/{record.id}/photos",
        data={"csrf_token": token},
        content_type="multipart/form-data",
    )
    assert empty.status_code == 422
    assert "choose a photo to upload" in text(empty)
    wrong = client.post(
        f"/returns/{record.id}/photos",
        data={"csrf_token": token, "photo": (io.BytesIO(b"%PDF-1.4"), "doc.pdf")},
        content_type="multipart/form-data",
        headers=HX,
    )
    assert wrong.headers["X-Error-Status"] == "415"
    assert session.scalar(select(func.count()).select_from(ReturnPhoto)) == 0


def test_it_serves_photos_to_the_owner_and_staff_only(app, client, session, customer):
    record = open_return(app, session, customer)
    photo = post_photo(client, session, customer, record)
    path = f"/returns/{record.id}/photos/{photo.id}"
    with client.get(path) as mine:
        assert mine.status_code == 200
        assert mine.mimetype == "image/png"
        assert "private" in mine.headers["Cache-Control"]
        assert "public" not in mine.headers["Cache-Control"]
    staff_client = app.test_client()
    sign_in(staff_client, make_user(session, "finance"))
    with staff_client.get(path) as theirs:
        assert theirs.status_code == 200
    assert app.test_client().get(path).status_code == 404


# The list and notices ---------------------------------------------------------------


def test_it_lists_a_customers_own_returns_with_their_status_in_words(
    app, client, session, customer
):
    mine = open_return(app, session, customer)
    approved = open_return(app, session, customer)
    fire(session, approved, "approve", make_user(session, "support"))
    theirs = open_return(app, session, make_user(session, "customer"))
    sign_in(client, customer)
    html = text(client.get("/returns"))
    assert mine.number in html
    assert approved.number in html
    assert theirs.number not in html
    assert "Awaiting review" in html
    assert "<strong>Your turn:</strong> Approved: ship it back" in html
    assert 'href="/returns"' in html  # the nav link


def test_it_says_when_there_are_no_returns(client, customer):
    sign_in(client, customer)
    html = text(client.get("/returns"))
    assert "No returns yet" in html
    assert "Nothing yet. We write here" in html


def test_it_pages_through_returns(app, client, session, customer):
    for _ in range(3):
        open_return(app, session, customer)
    sign_in(client, customer)
    assert "Page 1 of 2" in text(client.get("/returns?per_page=2"))
    assert "There is nothing on page 5." in text(client.get("/returns?per_page=2&page=5"))
    partial = text(client.get("/returns?per_page=2&page=2", headers=HX))
    assert partial.lstrip().startswith('<section id="returns-table"')


def test_it_shows_notices_and_marks_them_read(app, client, session, customer):
    record = open_return(app, session, customer)
    fire(session, record, "approve", make_user(session, "support"), note="Use the green label")
    deliver_notices(session, now=utcnow())
    token = sign_in(client, customer)
    html = text(client.get("/returns"))
    assert f"Your return {record.number} was approved" in html
    assert "Note from our team: Use the green label" in html
    assert html.count('<span class="badge badge-info">New</span>') == 2
    assert 'title="Unread notifications">2' in html
    response = post(client, "/returns/notices/read", token)
    assert response.status_code == 302
    assert (
        session.scalar(select(func.count()).select_from(Notice).where(Notice.read_at.is_(None)))
        == 0
    )
    after = text(client.get("/returns"))
    assert "Marked 2 notices as read." in after
    assert "Mark all as read" not in after
    assert "Unread notifications" not in after


def test_it_still_renders_the_nav_when_notices_cannot_be_read(client, customer, monkeypatch):
    def broken(*args, **kwargs):
        raise OperationalError("SELECT", {}, Exception("database is gone"))

    sign_in(client, customer)
    monkeypatch.setattr(views.returns.customer, "count_unread_notices", broken)
    response = client.get("/products")
    assert response.status_code == 200
    assert 'href="/returns"' in text(response)


def test_it_shows_staff_every_return_by_state(app, client, session, customer):
    waiting = open_return(app, session, customer)
    cancelled = open_return(app, session, customer)
    fire(session, cancelled, "cancel", customer)
    sign_in(client, make_user(session, "support"))
    html = text(client.get("/returns"))
    assert "All returns" in html
    assert f'href="/staff/returns/{waiting.id}"' in html
    assert "casey" in html
    assert "Support" in html  # who it waits on
    filtered = text(client.get("/returns?state=CANCELLED", headers=HX))
    assert cancelled.number in filtered
    assert waiting.number not in filtered
    assert "No returns in that state" in text(client.get("/returns?state=COMPLETED"))
    bad = client.get("/returns?state=LOST")
    assert bad.status_code == 422


def test_it_sends_anonymous_visitors_to_sign_in(client):
    response = client.get("/returns")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/returns"


# Shared pieces ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (5, "< 1 min"),
        (-600, "10 min"),
        (3600, "1 h"),
        (3660 * 2, "2 h 2 min"),
        (86400 * 2, "2 d"),
        (86400 + 3600 * 5, "1 d 5 h"),
    ],
)
def test_it_words_durations(seconds, words):
    assert duration(seconds) == words


def shown_in(state: str, extra: dict | None = None) -> SimpleNamespace:
    """What `progress` reads of a return in `state` of version 1, plus an `extra` state that
    support moves returns into from VALIDATING and back."""
    data = load_shipped("rma")
    if extra:
        data["states"] = [*data["states"], extra]
        data["transitions"] = [
            *data["transitions"],
            {"trigger": "hold", "source": ["VALIDATING"], "dest": extra["name"],
             "roles": ["support"]},
            {"trigger": "resume", "source": [extra["name"]], "dest": "VALIDATING",
             "roles": ["support"]},
        ]  # fmt: skip
    definition = parse_definition(data)
    return SimpleNamespace(
        state=definition.state(state),
        milestones=definition.steps,
        history=[],
        step_of={s.name: s.step for s in definition.states if s.step},
    )


def test_it_draws_progress_for_states_it_does_not_know():
    on_hold = {"name": "ON_HOLD", "label": "On hold", "team": "support", "terminal": False}
    assert {step.status for step in progress(shown_in("ON_HOLD", on_hold))} == {"todo"}
    assert progress(shown_in("CANCELLED")) == [
        Step("Requested", "done"),
        Step("Cancelled", "stopped"),
    ]


def test_a_state_added_to_a_version_shows_at_its_own_step():
    """The stepper is the version's data: a state an admin adds with `step: Review` is
    shown as the review milestone, current, with the ones before it done."""
    waiting = {"name": "AWAITING_INFO", "label": "Waiting for you", "team": "customer",
               "terminal": False, "step": "Review"}  # fmt: skip
    steps = progress(shown_in("AWAITING_INFO", waiting))
    assert [(s.label, s.status) for s in steps[:3]] == [
        ("Requested", "done"),
        ("Review", "current"),
        ("Ship back", "todo"),
    ]


def test_a_state_added_in_a_new_version_shows_as_its_version_says(app, client, session, customer):
    """The page reads the return's own version: a state an admin added (AWAITING_INFO, with
    its label, tone, step and guidance) shows without any code knowing its name."""
    publish_new_version(session, rma_with_awaiting_info(), make_user(session, "admin"))
    record = open_return(app, session, customer)
    assert record.workflow_version == 2
    fire(session, record, "ask_info", make_user(session, "support"), note="Which size?")
    deliver_notices(session, now=utcnow())
    sign_in(client, customer)
    html = text(client.get(f"/returns/{record.id}"))
    assert 'class="badge badge-wait" data-state="AWAITING_INFO"' in html
    assert "Waiting for your answer" in html
    assert "<p>Please answer our question below.</p>" in html
    review = re.search(r'<li class="step step-current" aria-current="step">.*?</li>', html, re.S)
    assert review is not None
    assert "Review" in review.group(0)
    notices = text(client.get("/returns"))
    assert f"Your return {record.number} needs your answer" in notices  # the version's words


def test_guidance_fills_in_the_amount_and_the_deadline_escaped():
    state = parse_definition(load_shipped("rma")).state("VALIDATING")
    record = SimpleNamespace(disposition=None, sla_due_at=None)
    shown = SimpleNamespace(record=record, state=state, state_label=state.label)
    assert guidance(shown, "") == "We are reviewing your request and will answer soon."
    record.sla_due_at = utcnow().replace(year=2030, month=1, day=2, hour=3, minute=4)
    assert "answer by <strong>02 Jan 2030, 03:04 UTC</strong>." in guidance(shown, "")
    refund = parse_definition(load_shipped("rma")).state("DISPOSITION")
    decided = SimpleNamespace(record=SimpleNamespace(disposition="REFUND", sla_due_at=None),
                              state=refund, state_label=refund.label)  # fmt: skip
    assert guidance(decided, "<b>$5</b>") == (
        "We are refunding &lt;b&gt;$5&lt;/b&gt; to your card."
    )
