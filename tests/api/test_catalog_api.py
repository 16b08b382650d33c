"""Products: create and edit (admin), list, search and read (anyone), CONTRACT §3.2."""

from __future__ import annotations

import pytest

from app.models.catalog import Product
from tests.api.helpers import assert_error
from tests.builders import make_product

PRODUCTS = "/api/v1/products"
CONTRACT_FIELDS = {
    "id",
    "sku",
    "name",
    "description",
    "category",
    "price_cents",
    "sale_price_cents",
    "stock",
    "partner_id",
}


def new_product(**changes):
    return {
        "sku": "MUG-1",
        "name": "Blue mug",
        "price_cents": 1250,
        "stock": 7,
        "description": "A mug that is blue.",
        "category": "Kitchen",
        **changes,
    }


def test_it_creates_a_product_in_the_contract_shape(client, session, admin_headers):
    response = client.post(PRODUCTS, json=new_product(), headers=admin_headers)
    assert response.status_code == 201
    body = response.get_json()
    assert set(body) >= CONTRACT_FIELDS
    assert {k: body[k] for k in CONTRACT_FIELDS - {"id"}} == {
        "sku": "MUG-1",
        "name": "Blue mug",
        "description": "A mug that is blue.",
        "category": "Kitchen",
        "price_cents": 1250,
        "sale_price_cents": None,
        "stock": 7,
        "partner_id": None,
    }
    row = session.get(Product, body["id"])
    assert row is not None
    assert (row.sku, row.price_cents, row.stock) == ("MUG-1", 1250, 7)


def test_it_creates_a_product_with_only_the_required_fields(client, admin_headers):
    body = {"sku": "S1", "name": "Plain", "price_cents": 0, "stock": 0}
    response = client.post(PRODUCTS, json=body, headers=admin_headers)
    assert response.status_code == 201
    assert response.get_json()["description"] == ""
    assert response.get_json()["category"] == ""


def test_it_trims_sku_and_name(client, admin_headers):
    body = new_product(sku="  MUG-2 ", name="  Red mug  ")
    created = client.post(PRODUCTS, json=body, headers=admin_headers).get_json()
    assert (created["sku"], created["name"]) == ("MUG-2", "Red mug")


def test_it_answers_a_taken_sku_with_409(client, session, admin_headers):
    make_product(session, sku="MUG-1")
    response = client.post(PRODUCTS, json=new_product(), headers=admin_headers)
    assert_error(response, 409, "sku_taken")
    assert session.query(Product).filter_by(sku="MUG-1").count() == 1


def test_it_refuses_product_creation_to_a_customer(client, customer_headers):
    assert_error(
        client.post(PRODUCTS, json=new_product(), headers=customer_headers), 403, "forbidden"
    )


def test_it_refuses_anonymous_product_creation(client):
    assert_error(client.post(PRODUCTS, json=new_product()), 401, "unauthorized")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"price_cents": -1}, "price_cents"),
        ({"stock": -1}, "stock"),
        ({"price_cents": "1250"}, "price_cents"),
        ({"stock": "7"}, "stock"),
        ({"price_cents": True}, "price_cents"),
        ({"stock": False}, "stock"),
        ({"price_cents": 12.5}, "price_cents"),
        ({"stock": 7.0}, "stock"),
        ({"price_cents": None}, "price_cents"),
        ({"stock": None}, "stock"),
        ({"sku": None}, "sku"),
        ({"name": None}, "name"),
        ({"price_cents": 100_000_001}, "price_cents"),
        ({"price_cents": 10**30}, "price_cents"),
        ({"stock": 10_000_001}, "stock"),
        ({"sku": "x" * 65}, "sku"),
        ({"sku": "   "}, "sku"),
        ({"sku": 12}, "sku"),
        ({"name": "n" * 201}, "name"),
        ({"category": "c" * 101}, "category"),
        ({"description": 5}, "description"),
        ({"description": "d" * 10_001}, "description"),
        ({"image_url": "ftp://example.com/a.png"}, "image_url"),
        ({"active": "yes"}, "active"),
        ({"sku": "NUL\x00"}, "sku"),
        ({"description": "nul \x00 inside"}, "description"),
    ],
)
def test_it_names_a_bad_product_field_with_422(client, session, admin_headers, changes, field):
    response = client.post(PRODUCTS, json=new_product(**changes), headers=admin_headers)
    error = assert_error(response, 422, "validation_error")
    assert field in error["details"]["fields"]
    assert session.query(Product).count() == 0


def test_it_names_every_missing_required_field(client, admin_headers):
    error = assert_error(
        client.post(PRODUCTS, json={}, headers=admin_headers), 422, "validation_error"
    )
    assert set(error["details"]["fields"]) == {"sku", "name", "price_cents", "stock"}


def test_it_updates_the_given_fields_only(client, session, admin_headers):
    product = make_product(session, sku="KEEP", name="Old name", price_cents=500, stock=3)
    response = client.patch(
        f"{PRODUCTS}/{product.id}",
        json={"price_cents": 450, "name": "New name"},
        headers=admin_headers,
    )
    assert response.status_code == 200
    body = response.get_json()
    assert (body["sku"], body["name"], body["price_cents"], body["stock"]) == (
        "KEEP",
        "New name",
        450,
        3,
    )
    session.refresh(product)
    assert (product.name, product.price_cents) == ("New name", 450)


@pytest.mark.parametrize(
    "changes",
    [
        {"price_cents": -5},
        {"stock": -1},
        {"stock": "3"},
        {"price_cents": None},
        {"stock": None},
        {"active": None},
        {"price_cents": 9.99},
    ],
)
def test_it_refuses_a_bad_patch_and_changes_nothing(client, session, admin_headers, changes):
    product = make_product(session, price_cents=500, stock=3)
    response = client.patch(f"{PRODUCTS}/{product.id}", json=changes, headers=admin_headers)
    assert_error(response, 422, "validation_error")
    session.refresh(product)
    assert (product.price_cents, product.stock, product.active) == (500, 3, True)


def test_it_refuses_to_patch_a_sku_onto_another_products(client, session, admin_headers):
    make_product(session, sku="TAKEN")
    product = make_product(session, sku="MINE")
    response = client.patch(
        f"{PRODUCTS}/{product.id}", json={"sku": "TAKEN"}, headers=admin_headers
    )
    assert_error(response, 409, "sku_taken")
    session.refresh(product)
    assert product.sku == "MINE"


def test_it_accepts_a_patch_that_keeps_the_same_sku(client, session, admin_headers):
    product = make_product(session, sku="MINE")
    response = client.patch(
        f"{PRODUCTS}/{product.id}", json={"sku": "MINE", "stock": 99}, headers=admin_headers
    )
    assert response.status_code == 200
    assert response.get_json()["stock"] == 99


def test_it_answers_a_patch_of_a_missing_product_with_404(client, admin_headers):
    response = client.patch(f"{PRODUCTS}/987654", json={"stock": 1}, headers=admin_headers)
    assert_error(response, 404, "not_found")


def test_it_refuses_a_patch_to_a_customer(client, session, customer_headers):
    product = make_product(session, stock=3)
    response = client.patch(f"{PRODUCTS}/{product.id}", json={"stock": 0}, headers=customer_headers)
    assert_error(response, 403, "forbidden")
    session.refresh(product)
    assert product.stock == 3


def test_it_lists_products_in_the_list_shape(client, session):
    for i in range(3):
        make_product(session, name=f"Item {i}")
    response = client.get(PRODUCTS)
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"items", "total", "page", "per_page"}
    assert (body["total"], body["page"], body["per_page"]) == (3, 1, 20)
    assert [p["name"] for p in body["items"]] == ["Item 0", "Item 1", "Item 2"]
    assert all(set(p) >= CONTRACT_FIELDS for p in body["items"])


def test_it_pages_through_products(client, session):
    for i in range(5):
        make_product(session, name=f"Item {i}")
    first = client.get(f"{PRODUCTS}?per_page=2").get_json()
    third = client.get(f"{PRODUCTS}?per_page=2&page=3").get_json()
    beyond = client.get(f"{PRODUCTS}?per_page=2&page=9").get_json()
    assert [p["name"] for p in first["items"]] == ["Item 0", "Item 1"]
    assert [p["name"] for p in third["items"]] == ["Item 4"]
    assert (beyond["items"], beyond["total"], beyond["page"]) == ([], 5, 9)


def test_it_caps_per_page_at_100(client, session):
    make_product(session)
    body = client.get(f"{PRODUCTS}?per_page=500").get_json()
    assert body["per_page"] == 100


@pytest.mark.parametrize(
    "query",
    ["page=0", "page=-1", "page=abc", "per_page=0", "per_page=x", "page=1.5", f"page={2**40}"],
)
def test_it_answers_bad_page_parameters_with_422(client, query):
    error = assert_error(client.get(f"{PRODUCTS}?{query}"), 422, "validation_error")
    assert set(error["details"]["fields"]) <= {"page", "per_page"}
    assert error["details"]["fields"]


def test_it_ranks_search_results_by_how_well_they_match(client, session):
    make_product(session, sku="NOPE-1", name="Teapot", description="nothing to see")
    described = make_product(session, sku="D-1", name="Reading nook", description="a LAMP inside")
    sku_part = make_product(session, sku="X-LAMP-2", name="Bulb")
    in_name = make_product(session, sku="N-1", name="Floor lamp")
    prefix = make_product(session, sku="P-1", name="Lamp shade")
    exact = make_product(session, sku="LAMP", name="Desk light")
    body = client.get(f"{PRODUCTS}?q=lamp").get_json()
    assert [p["id"] for p in body["items"]] == [
        exact.id,
        prefix.id,
        in_name.id,
        sku_part.id,
        described.id,
    ]
    assert body["total"] == 5


def test_it_ranks_a_name_match_above_a_description_only_match(client, session):
    only_desc = make_product(session, sku="A-1", name="Aardvark", description="great kettle")
    in_name = make_product(session, sku="Z-1", name="Zinc kettle")
    body = client.get(f"{PRODUCTS}?q=Kettle").get_json()
    assert [p["id"] for p in body["items"]] == [in_name.id, only_desc.id]


def test_it_requires_every_search_term_to_match(client, session):
    both = make_product(session, name="Red lamp")
    make_product(session, name="Blue lamp")
    make_product(session, name="Red kettle")
    body = client.get(f"{PRODUCTS}?q=red+lamp").get_json()
    assert [p["id"] for p in body["items"]] == [both.id]


@pytest.mark.parametrize(("q", "expected"), [("100%", "100% cotton"), ("a_b", "a_b thing")])
def test_it_searches_for_wildcard_characters_literally(client, session, q, expected):
    make_product(session, name="100% cotton")
    make_product(session, name="1000 cotton")
    make_product(session, name="a_b thing")
    make_product(session, name="axb thing")
    body = client.get(PRODUCTS, query_string={"q": q}).get_json()
    assert [p["name"] for p in body["items"]] == [expected]


def test_it_filters_by_category(client, session):
    make_product(session, name="Pan", category="Kitchen")
    make_product(session, name="Tent", category="Outdoors")
    body = client.get(f"{PRODUCTS}?category=Outdoors").get_json()
    assert [p["name"] for p in body["items"]] == ["Tent"]


def test_it_survives_a_nul_character_in_the_search(client, session):
    make_product(session, name="Lamp")
    response = client.get(PRODUCTS, query_string={"q": "la\x00mp", "category": "\x00"})
    assert response.status_code == 200


def test_it_hides_inactive_products_from_customers_and_anonymous(
    client, session, admin_headers, customer_headers
):
    hidden = make_product(session, name="Retired lamp")
    shown = make_product(session, name="Current lamp")
    response = client.patch(
        f"{PRODUCTS}/{hidden.id}", json={"active": False}, headers=admin_headers
    )
    assert response.status_code == 200
    for headers in ({}, customer_headers):
        body = client.get(f"{PRODUCTS}?q=lamp", headers=headers).get_json()
        assert [p["id"] for p in body["items"]] == [shown.id]
        assert_error(client.get(f"{PRODUCTS}/{hidden.id}", headers=headers), 404, "not_found")
    assert client.get(f"{PRODUCTS}/{hidden.id}", headers=admin_headers).status_code == 200
    everything = client.get(f"{PRODUCTS}?include_inactive=1", headers=admin_headers).get_json()
    assert {p["id"] for p in everything["items"]} == {hidden.id, shown.id}
    ignored = client.get(f"{PRODUCTS}?include_inactive=1", headers=customer_headers).get_json()
    assert [p["id"] for p in ignored["items"]] == [shown.id]


def test_it_reads_one_product(client, session):
    product = make_product(session, sku="ONE", name="One", price_cents=999, stock=4)
    body = client.get(f"{PRODUCTS}/{product.id}").get_json()
    assert (body["id"], body["sku"], body["price_cents"], body["stock"]) == (
        product.id,
        "ONE",
        999,
        4,
    )
    assert body["sale_price_cents"] is None
    assert body["partner_id"] is None


@pytest.mark.parametrize("product_id", ["424242", "0", str(2**31), str(10**20)])
def test_it_answers_a_missing_product_with_404_json(client, product_id):
    assert_error(client.get(f"{PRODUCTS}/{product_id}"), 404, "not_found")
