"""Staff searches (every order, every return, a team's queue) match what was typed: `%` and
`_` are characters, not wildcards; a NUL is dropped, not a 500 on PostgreSQL; a name with a
capital letter outside ASCII is found when typed as it is written (issue 14 review)."""

from __future__ import annotations

import pytest

from app.services.users import create_user
from tests.builders import PASSWORD, make_user
from tests.conftest import sign_in
from tests.views.conftest import text
from tests.views.returns_helpers import open_return

PAGES = ("/orders", "/returns", "/staff/queues/support")


@pytest.fixture
def shoppers(app, session):
    """Two customers whose usernames differ only where `_` stands, each with a return."""
    made = {}
    for username, name in (("casey_b", "Émile Zola"), ("caseyXb", "Other Person")):
        user = create_user(session, username=username, password=PASSWORD, role="customer",
                           name=name, email=f"{username}@example.com")  # fmt: skip
        made[username] = open_return(app, session, user)
    return made


@pytest.mark.parametrize("path", PAGES)
def test_an_underscore_matches_only_itself(client, session, shoppers, path):
    sign_in(client, make_user(session, "support"))
    html = text(client.get(path, query_string={"q": "casey_b"}))
    assert shoppers["casey_b"].number in html or f"/orders/{shoppers['casey_b'].order_id}" in html
    assert shoppers["caseyXb"].number not in html
    assert f'/orders/{shoppers["caseyXb"].order_id}"' not in html


@pytest.mark.parametrize("path", PAGES)
@pytest.mark.parametrize("typed", ["%", "%%", "\\"])  # no number or name holds one
def test_a_wildcard_alone_finds_nothing(client, session, shoppers, path, typed):
    sign_in(client, make_user(session, "support"))
    response = client.get(path, query_string={"q": typed})
    assert response.status_code == 200
    html = text(response)
    for record in shoppers.values():
        assert record.number not in html
        assert f'/orders/{record.order_id}"' not in html


@pytest.mark.parametrize("path", PAGES)
def test_a_nul_in_the_search_is_dropped(client, session, shoppers, path):
    sign_in(client, make_user(session, "support"))
    response = client.get(path, query_string={"q": "casey\x00_b"})
    assert response.status_code == 200
    assert shoppers["casey_b"].number in text(response) or "casey_b" in text(response)


@pytest.mark.parametrize("path", PAGES)
def test_a_name_with_a_non_ascii_capital_is_found(client, session, shoppers, path):
    sign_in(client, make_user(session, "support"))
    html = text(client.get(path, query_string={"q": "Émile"}))
    assert "Émile Zola" in html
    assert "Other Person" not in html
