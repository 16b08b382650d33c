import pytest

from tests.builders import make_user
from tests.conftest import sign_in
from tests.views.conftest import HX, text


def test_it_sends_anonymous_visitors_to_sign_in(client):
    response = client.get("/staff")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/staff"


def test_it_forbids_customers(client, customer):
    sign_in(client, customer)
    response = client.get("/staff")
    assert response.status_code == 403
    assert "You may not open this page" in text(response)


def test_it_answers_a_forbidden_htmx_request_with_an_alert(client, customer):
    sign_in(client, customer)
    response = client.get("/staff", headers=HX)
    assert response.headers["HX-Retarget"] == "#alerts"
    assert response.headers["X-Error-Status"] == "403"


FUTURE_PAGES = {
    "staff_returns.queue": "/staff/queues/<team>",
    "dashboard.page": "/monitoring/dashboard",
    "admin_flash_sales.index": "/admin/flash-sales",
    "admin.partners": "/admin/partners",
    "admin.workflows": "/admin/workflows",
}


@pytest.fixture
def every_page(app):
    """Stand-ins for pages later features add, so the home's links to them can be seen."""
    for endpoint, rule in FUTURE_PAGES.items():
        if endpoint not in app.view_functions:
            app.add_url_rule(rule, endpoint=endpoint, view_func=lambda **_: "")
    return app


def test_it_links_only_to_pages_that_exist(client, admin):
    sign_in(client, admin)
    html = text(client.get("/staff"))
    assert 'href="/admin/products"' in html
    for endpoint, rule in FUTURE_PAGES.items():
        if endpoint not in client.application.view_functions:
            assert f'href="{rule.split("<")[0]}' not in html


@pytest.mark.parametrize("team", ["support", "warehouse", "finance"])
def test_it_links_each_team_to_its_own_queue_only(every_page, client, session, team):
    sign_in(client, make_user(session, team))
    html = text(client.get("/staff"))
    assert f'href="/staff/queues/{team}"' in html
    for other in {"support", "warehouse", "finance"} - {team}:
        assert f'href="/staff/queues/{other}"' not in html
    assert 'href="/monitoring/dashboard"' in html
    assert 'href="/admin/products"' not in html


def test_it_gives_admins_every_queue_and_the_admin_pages(every_page, client, admin):
    sign_in(client, admin)
    html = text(client.get("/staff"))
    for team in ("support", "warehouse", "finance"):
        assert f'href="/staff/queues/{team}"' in html
    for page in ("products", "users", "flash-sales", "partners", "workflows"):
        assert f'href="/admin/{page}"' in html
    assert 'href="/monitoring/dashboard"' in html


def test_it_shows_the_role_in_the_nav_and_no_cart_for_staff(client, session):
    sign_in(client, make_user(session, "warehouse", username="wes"))
    html = text(client.get("/staff"))
    assert "wes" in html
    assert "Warehouse" in html
    assert 'id="cart-count"' not in html
