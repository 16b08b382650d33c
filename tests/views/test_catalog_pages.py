from app.services.catalog import ProductInput, update_product
from tests.builders import make_product
from tests.conftest import sign_in
from tests.views.conftest import HX, text


def test_it_redirects_the_root_to_the_catalog(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"] == "/products"


def test_it_lists_active_products_with_prices_and_stock_words(client, session):
    make_product(session, name="Blue Kettle", price_cents=4250, stock=12)
    make_product(session, name="Last Lamp", stock=2)
    make_product(session, name="Empty Shelf", stock=0)
    hidden = make_product(session, name="Secret Thing")
    update_product(session, hidden.id, ProductInput(active=False))
    html = text(client.get("/products"))
    assert "Blue Kettle" in html
    assert "$42.50" in html
    assert "In stock" in html
    assert "Only 2 left" in html
    assert "Out of stock" in html
    assert "Secret Thing" not in html
    assert 'id="catalog-results"' in html


def test_it_offers_add_to_cart_only_for_products_in_stock(client, session):
    in_stock = make_product(session, name="Has Some", stock=3)
    sold_out = make_product(session, name="Has None", stock=0)
    html = text(client.get("/products"))
    assert f'id="add-status-{in_stock.id}"' in html
    assert f'id="add-status-{sold_out.id}"' not in html


def test_it_searches_with_q_and_answers_htmx_with_only_the_results(client, session):
    make_product(session, name="Pour-Over Kettle")
    make_product(session, name="Wool Socks")
    response = client.get("/products?q=kettle", headers=HX)
    html = text(response)
    assert response.status_code == 200
    assert html.lstrip().startswith('<section id="catalog-results"')
    assert "<html" not in html
    assert "Pour-Over Kettle" in html
    assert "Wool Socks" not in html
    assert "HX-Request" in response.headers["Vary"]


def test_it_renders_the_search_box_wired_for_htmx(client):
    html = text(client.get("/products?q=tea"))
    assert 'hx-trigger="input changed delay:300ms, search"' in html
    assert 'hx-push-url="true"' in html
    assert 'value="tea"' in html
    assert '<label for="catalog-q">' in html


def test_it_gives_a_history_restore_the_whole_page(client, session):
    headers = {**HX, "HX-History-Restore-Request": "true"}
    html = text(client.get("/products", headers=headers))
    assert "<html" in html
    assert 'id="catalog-results"' in html


def test_it_filters_by_category(client, session):
    make_product(session, name="Trail Map", category="Books")
    make_product(session, name="Trail Shoes", category="Apparel")
    html = text(client.get("/products?category=Books"))
    assert "Trail Map" in html
    assert "Trail Shoes" not in html
    assert '<option value="Books" selected>' in html


def test_it_says_so_when_nothing_matches(client, session):
    make_product(session, name="Something")
    html = text(client.get("/products?q=zzzz-nothing"))
    assert "No products found" in html
    assert "Nothing matches" in html


def test_it_pages_through_the_catalog(client, session):
    for i in range(14):
        make_product(session, name=f"Item {i:02d}")
    first = text(client.get("/products"))
    assert "Page 1 of 2" in first
    assert 'href="/products?page=2"' in first
    second = text(client.get("/products?page=2"))
    assert "Item 13" in second
    assert "Item 00" not in second
    assert 'rel="prev"' in second


def test_it_keeps_a_chosen_page_size_in_the_page_links(client, session):
    for i in range(3):
        make_product(session, name=f"Item {i}")
    html = text(client.get("/products?per_page=2&q=item"))
    assert "Page 1 of 2" in html
    assert 'href="/products?page=2&amp;q=item&amp;per_page=2"' in html


def test_it_explains_an_empty_page_past_the_end(client, session):
    make_product(session, name="Only One")
    html = text(client.get("/products?page=9"))
    assert "There is nothing on page 9." in html


def test_it_answers_a_malformed_page_with_422(client):
    response = client.get("/products?page=abc")
    assert response.status_code == 422
    assert "page" in text(response)


def test_it_answers_a_malformed_page_for_htmx_with_an_alert(client):
    response = client.get("/products?page=-1", headers=HX)
    assert response.headers["HX-Retarget"] == "#alerts"
    assert 'role="alert"' in text(response)


def test_it_shows_a_product_page(client, session):
    product = make_product(
        session, name="Cast Iron Pan", price_cents=3400, description="Heavy and honest."
    )
    html = text(client.get(f"/products/{product.id}"))
    assert "Cast Iron Pan" in html
    assert "$34.00" in html
    assert "Heavy and honest." in html
    assert '<label for="qty-' in html


def test_it_hides_inactive_products_from_customers_but_not_admins(client, session, admin):
    product = make_product(session, name="Retired Mug")
    update_product(session, product.id, ProductInput(active=False))
    assert client.get(f"/products/{product.id}").status_code == 404
    sign_in(client, admin)
    html = text(client.get(f"/products/{product.id}"))
    assert "This product is inactive" in html
    assert "Edit product" in html


def test_it_says_a_sold_out_product_is_sold_out(client, session):
    product = make_product(session, name="Gone Gadget", stock=0)
    html = text(client.get(f"/products/{product.id}"))
    assert "sold out for now" in html
    assert "Add to cart" not in html


def test_it_answers_unknown_and_absurd_product_ids_with_404(client):
    assert client.get("/products/999999").status_code == 404
    assert client.get("/products/99999999999999999999").status_code == 404
    response = client.get("/products/abc")
    assert response.status_code == 404
    assert "We could not find that page" in text(response)
