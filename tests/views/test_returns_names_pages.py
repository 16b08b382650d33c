"""One display name on every returns page (the name a person gave, else their username; staff
pages add the username), the staff list's search and customer filter, and action fields
that say which action they belong to."""

import re

import pytest
from sqlalchemy import event

from app.db import utcnow
from app.models.orders import Order
from app.services.returns import fire_return_trigger
from app.services.users import create_user
from tests.builders import PASSWORD
from tests.conftest import sign_in
from tests.views.conftest import text
from tests.views.returns_helpers import HX, open_return


def make_person(session, role, username, name=""):
    return create_user(
        session, username=username, password=PASSWORD, role=role, name=name,
        email=f"{username}@example.com",
    )  # fmt: skip


def fire(session, record, trigger, actor, **fields):
    return fire_return_trigger(
        session, record.id, trigger, actor=actor, fields=fields, expected_version=None, now=utcnow()
    )


def squash(html):
    """The page's text as a person reads it: tags gone, spaces collapsed."""
    words = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))
    return words.replace("( ", "(").replace(" )", ")")


@pytest.fixture
def named(session):
    return make_person(session, "customer", "casey", "Casey Customer")


@pytest.fixture
def unnamed(session):
    return make_person(session, "customer", "dana")


@pytest.fixture
def staff(session):
    return {
        "support": make_person(session, "support", "sam", "Sam Support"),
        "warehouse": make_person(session, "warehouse", "wes"),
    }


# The team queue -----------------------------------------------------------------------


def test_the_queue_names_customers_by_name_with_the_username(
    app, client, session, named, unnamed, staff
):
    with_name = open_return(app, session, named)
    without = open_return(app, session, unnamed)
    sign_in(client, staff["support"])
    html = text(client.get("/staff/queues/support"))
    row = html[html.index(f'id="return-{with_name.id}"') :]
    row = row[: row.index("</tr>")]
    assert 'Casey Customer <span class="muted username">(casey)</span>' in row
    other = html[html.index(f'id="return-{without.id}"') :]
    other = other[: other.index("</tr>")]
    assert '<td data-label="Customer">dana</td>' in other
    assert "(dana)" not in other


# The staff return page ------------------------------------------------------------------


def test_the_staff_page_header_names_the_customer_and_links_their_returns(
    app, client, session, named, staff
):
    record = open_return(app, session, named)
    sign_in(client, staff["support"])
    html = text(client.get(f"/staff/returns/{record.id}"))
    head = squash(html[html.index('class="page-head"') : html.index('id="return-live"')])
    assert "Customer Casey Customer (casey) · all their returns · order" in head
    assert f'href="/returns?customer={named.id}"' in html


def test_the_staff_page_header_shows_the_username_when_no_name_was_given(
    app, client, session, unnamed, staff
):
    record = open_return(app, session, unnamed)
    sign_in(client, staff["support"])
    html = text(client.get(f"/staff/returns/{record.id}"))
    head = squash(html[html.index('class="page-head"') : html.index('id="return-live"')])
    assert "Customer dana · all their returns · order" in head
    assert "(dana)" not in head


def test_the_audit_trail_names_each_actor_and_their_role(
    app, client, session, named, unnamed, staff
):
    record = open_return(app, session, named)
    fire(session, record, "approve", staff["support"], note="ok")
    fire(session, record, "ship", named, carrier="DHL", tracking_number="T1")
    fire(session, record, "receive", staff["warehouse"])
    sign_in(client, staff["support"])
    html = text(client.get(f"/staff/returns/{record.id}"))
    trail = html[html.index('id="return-events"') :]
    cells = re.findall(r'<td class="audit-who"[^>]*>(.*?)</td>', trail)
    who = [squash(cell).strip() for cell in cells]
    assert who == [
        "Casey Customer (casey) Customer",  # submit
        "System",  # validate
        "Sam Support (sam) Support",
        "Casey Customer (casey) Customer",
        "wes Warehouse",  # no name given: the username alone
    ]
    assert "customer Customer" not in squash(trail)


def test_the_staff_home_greets_by_display_name(app, client, staff):
    sign_in(client, staff["support"])
    assert "Signed in as Sam Support" in squash(text(client.get("/staff")))
    other = app.test_client()
    sign_in(other, staff["warehouse"])
    assert "Signed in as wes" in squash(text(other.get("/staff")))


# The customer's pages -------------------------------------------------------------------


@pytest.mark.parametrize("has_name", [True, False])
def test_customer_pages_say_you_and_name_staff_by_team_only(
    app, client, session, named, unnamed, staff, has_name
):
    """The customer's own steps read 'You' whatever their name; staff are their team, so no
    staff member's name or username reaches a customer."""
    owner = named if has_name else unnamed
    record = open_return(app, session, owner)
    fire(session, record, "approve", staff["support"], note="ok")
    sign_in(client, owner)
    page = squash(text(client.get(f"/returns/{record.id}")))
    assert "· You" in page
    assert "· Support team" in page
    assert "Sam Support" not in page
    assert " sam " not in page
    listing = text(client.get("/returns"))
    assert record.number in listing
    assert "Sam Support" not in listing


# The staff list of every return: display names, search, customer filter ------------------


def test_the_staff_list_names_customers_and_links_each_to_their_returns(
    app, client, session, named, unnamed, staff
):
    open_return(app, session, named)
    open_return(app, session, unnamed)
    sign_in(client, staff["support"])
    html = text(client.get("/returns"))
    link = '<a href="/returns?customer={}" title="Only the returns of this customer">{}</a>'
    named_link = link.format(named.id, 'Casey Customer <span class="muted username">(casey)</span>')
    assert named_link in html
    assert link.format(unnamed.id, "dana") in html


def test_the_staff_list_searches_numbers_and_customers(app, client, session, named, unnamed, staff):
    first = open_return(app, session, named)
    second = open_return(app, session, unnamed)
    sign_in(client, staff["support"])

    def found(query, **headers):
        html = text(client.get(f"/returns?{query}", headers=headers))
        return {n for n in (first.number, second.number) if n in html}

    assert found("q=") == {first.number, second.number}
    assert found(f"q={first.number.lower()}") == {first.number}
    order_number = session.get(Order, second.order_id).number
    assert found(f"q={order_number}", **HX) == {second.number}
    assert found("q=casey+cust") == {first.number}  # part of the name, any case
    assert found("q=DAN") == {second.number}  # part of the username
    empty = text(client.get("/returns?q=nobody-at-all"))
    assert "No returns match these filters" in empty
    assert 'value="nobody-at-all"' in empty


def test_the_staff_list_filters_by_customer_with_a_removable_chip(
    app, client, session, named, unnamed, staff
):
    first = open_return(app, session, named)
    second = open_return(app, session, unnamed)
    sign_in(client, staff["support"])
    html = text(client.get(f"/returns?customer={named.id}"))
    assert first.number in html
    assert second.number not in html
    chip = squash(html[html.index('class="filter-chip"') :])
    assert chip.startswith('class="filter-chip"> Casey Customer (casey) Any customer')
    assert f'<input type="hidden" name="customer" value="{named.id}">' in html
    both = text(client.get(f"/returns?customer={unnamed.id}&q={first.number}"))
    assert f'href="/staff/returns/{first.id}"' not in both  # filters combine
    assert "No returns match these filters" in both


def test_the_staff_list_keeps_its_filters_across_pages(app, client, session, named, staff):
    for _ in range(3):
        open_return(app, session, named)
    sign_in(client, staff["support"])
    html = text(client.get(f"/returns?customer={named.id}&q=casey&per_page=2", headers=HX))
    assert html.lstrip().startswith('<section id="returns-table"')
    assert f"/returns?page=2&amp;q=casey&amp;customer={named.id}&amp;per_page=2" in html
    rest = text(client.get(f"/returns?customer={named.id}&q=casey&per_page=2&page=2", headers=HX))
    assert rest.count('<tr id="return-') == 1


def test_the_staff_list_refuses_a_customer_that_is_not_an_id(client, staff):
    sign_in(client, staff["support"])
    for bad in ("casey", "-1", "0", "99999999999"):
        assert client.get(f"/returns?customer={bad}").status_code == 422


def test_customers_get_no_search_nor_another_customers_returns(
    app, client, session, named, unnamed
):
    mine = open_return(app, session, named)
    theirs = open_return(app, session, unnamed)
    sign_in(client, named)
    html = text(client.get(f"/returns?customer={unnamed.id}&q={theirs.number}"))
    assert mine.number in html
    assert theirs.number not in html
    assert 'id="returns-q"' not in html


# The staff Actions panel ------------------------------------------------------------------


def test_each_action_field_is_labelled_with_its_action(app, client, session, named, staff):
    record = open_return(app, session, named)
    sign_in(client, staff["support"])
    html = text(client.get(f"/staff/returns/{record.id}"))
    panel = html[html.index('id="actions-title"') : html.index('id="audit-title"')]
    labels = {
        target: squash(label).strip()
        for target, label in re.findall(r'<label for="([^"]+)">(.*?)</label>', panel, re.S)
    }
    prefix = f"act-{record.id}-"
    assert labels == {
        f"{prefix}approve-note": "Approve: note to the customer (optional)",
        f"{prefix}reject-note": "Reject: reason for the customer",
        f"{prefix}cancel-note": "Cancel return: note (optional)",
    }
    for target in labels:
        assert f'id="{target}"' in panel


def test_queue_row_fields_name_their_action_too(app, client, session, named, staff):
    record = open_return(app, session, named)
    sign_in(client, staff["support"])
    html = text(client.get("/staff/queues/support"))
    assert f'<label for="act-{record.id}-reject-note">Reject: reason for the customer</label>' in (
        html
    )


def test_the_customer_form_keeps_its_plain_labels(app, client, session, named):
    record = open_return(app, session, named)
    sign_in(client, named)
    html = text(client.get(f"/returns/{record.id}"))
    assert f'<label for="act-{record.id}-cancel-note">Note <span' in html


def test_a_name_is_text_never_markup(app, client, session, staff):
    sly = make_person(session, "customer", "sly", "<b>Sly</b>")
    record = open_return(app, session, sly)
    sign_in(client, staff["support"])
    html = text(client.get(f"/staff/returns/{record.id}"))
    assert '&lt;b&gt;Sly&lt;/b&gt; <span class="muted username">(sly)</span>' in html
    assert "<b>Sly</b>" not in html


def count_statements(session, call):
    statements = []

    def seen(*_args):
        statements.append(1)

    bind = session.get_bind()
    engine = getattr(bind, "engine", bind)
    event.listen(engine, "before_cursor_execute", seen)
    try:
        call()
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    return len(statements)


def test_the_staff_list_reads_names_in_a_fixed_number_of_queries(
    app, client, session, named, unnamed, staff
):
    open_return(app, session, named)
    sign_in(client, staff["support"])
    client.get("/returns")  # engines and caches warm
    few = count_statements(session, lambda: client.get("/returns?q=a", headers=HX))
    for owner in (named, unnamed, named, unnamed):
        open_return(app, session, owner)
    many = count_statements(session, lambda: client.get("/returns?q=a", headers=HX))
    assert many == few
