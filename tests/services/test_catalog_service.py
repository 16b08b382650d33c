"""The catalog service: ranked search, reads, and admin edits."""

from __future__ import annotations

import pytest

import app.services.catalog.products as catalog
from app.db import transaction
from app.errors import Conflict, NotFound, ValidationError
from app.models.catalog import Product
from app.services.catalog import (
    ProductInput,
    create_product,
    find_products,
    get_product,
    list_categories,
    list_products,
    update_product,
)
from tests.builders import make_partner, make_product, make_user
from tests.conftest import statements_run


def names(page):
    return [p.name for p in page.items]


def test_it_ranks_exact_sku_then_name_prefix_then_name_then_sku_then_description(session):
    make_product(session, sku="D", name="Described", description="has a widget inside")
    make_product(session, sku="X-WIDGET-9", name="Sku part")
    make_product(session, sku="N", name="Blue widget")
    make_product(session, sku="P", name="Widget stand")
    make_product(session, sku="WIDGET", name="Exact sku")
    make_product(session, sku="Z", name="Unrelated")
    page = list_products(session, q="Widget")
    assert names(page) == ["Exact sku", "Widget stand", "Blue widget", "Sku part", "Described"]
    assert page.total == 5


def test_it_adds_up_the_score_of_every_term(session):
    make_product(session, name="Red chair", description="a chair")
    make_product(session, name="Chair", description="red")
    page = list_products(session, q="red chair")
    assert names(page) == ["Red chair", "Chair"]


def test_it_uses_at_most_eight_terms(session):
    make_product(session, name="a b c d e f g h")
    assert names(list_products(session, q="a b c d e f g h zzz-not-there")) == ["a b c d e f g h"]


def test_it_orders_by_name_without_a_query(session):
    for name in ("Cherry", "apple", "Banana"):
        make_product(session, name=name)
    assert names(list_products(session)) == ["Banana", "Cherry", "apple"]


def test_it_hides_inactive_products_unless_asked(session):
    product = make_product(session, name="Gone")
    update_product(session, product.id, ProductInput(active=False))
    assert list_products(session).total == 0
    assert names(list_products(session, include_inactive=True)) == ["Gone"]
    with pytest.raises(NotFound):
        get_product(session, product.id)
    assert get_product(session, product.id, include_inactive=True).id == product.id


def test_it_lists_active_non_empty_categories_once(session):
    make_product(session, category="Kitchen")
    make_product(session, category="Kitchen")
    make_product(session, category="")
    hidden = make_product(session, category="Hidden")
    make_product(session, category="Books")
    update_product(session, hidden.id, ProductInput(active=False))
    assert list_categories(session) == ["Books", "Kitchen"]


@pytest.mark.parametrize("product_id", [0, -1, 2**31, 10**30])
def test_it_does_not_find_ids_outside_the_column(session, product_id):
    with pytest.raises(NotFound):
        get_product(session, product_id)


def test_it_refuses_a_shop_sku_twice(session):
    make_product(session, sku="DUP")
    with pytest.raises(Conflict) as caught:
        make_product(session, sku="DUP")
    assert caught.value.code == "sku_taken"


def test_it_allows_a_partners_product_to_share_a_shop_sku(session):
    partner, _ = make_partner(session, make_user(session, "admin"))
    make_product(session, sku="SHARED")
    with transaction(session):
        session.add(
            Product(sku="SHARED", name="Partner's", price_cents=1, stock=1, partner_id=partner.id)
        )
    assert create_product(session, ProductInput(sku="ALSO", name="n", price_cents=1, stock=1))
    with transaction(session):
        session.add(
            Product(sku="ALSO", name="Partner's", price_cents=1, stock=1, partner_id=partner.id)
        )
    assert session.query(Product).filter_by(sku="SHARED").count() == 2


def test_it_turns_a_racing_duplicate_into_sku_taken(session, monkeypatch):
    make_product(session, sku="RACE")
    monkeypatch.setattr(catalog, "_refuse_taken_sku", lambda *a, **k: None)
    with pytest.raises(Conflict) as caught:
        make_product(session, sku="RACE")
    assert caught.value.code == "sku_taken"
    other = make_product(session, sku="OTHER")
    with pytest.raises(Conflict):
        update_product(session, other.id, ProductInput(sku="RACE"))


def test_it_refuses_to_rename_a_sku_onto_a_taken_one(session):
    make_product(session, sku="TAKEN")
    product = make_product(session, sku="FREE")
    with pytest.raises(Conflict):
        update_product(session, product.id, ProductInput(sku=" TAKEN "))
    session.refresh(product)
    assert product.sku == "FREE"


def test_it_renames_a_sku_trimmed(session):
    product = make_product(session, sku="OLD")
    assert update_product(session, product.id, ProductInput(sku=" NEW ")).sku == "NEW"


def test_it_answers_an_edit_of_a_missing_product_with_not_found(session):
    with pytest.raises(NotFound):
        update_product(session, 99999, ProductInput(stock=1))


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (ProductInput(name="n", price_cents=1, stock=1), "sku"),
        (ProductInput(sku="s", price_cents=1, stock=1), "name"),
        (ProductInput(sku="s", name="n", stock=1), "price_cents"),
        (ProductInput(sku="s", name="n", price_cents=1), "stock"),
        (
            ProductInput(sku="s", name="n", price_cents=1, stock=1, image_url="javascript:x"),
            "image_url",
        ),
        (
            ProductInput(sku="s", name="n", price_cents=1, stock=1, image_url="h" * 2001),
            "image_url",
        ),
        (ProductInput(sku="s", name="n", price_cents=1, stock=1, category="\x00"), "category"),
    ],
)
def test_it_names_each_bad_field(session, data, field):
    with pytest.raises(ValidationError) as caught:
        create_product(session, data)
    assert set(caught.value.fields) == {field}


def test_it_accepts_relative_and_absolute_image_urls(session):
    for url in ("/static/a.png", "https://cdn.example.com/a.png", "http://x.example/a.png"):
        product = create_product(
            session, ProductInput(sku=url[-12:], name="n", price_cents=1, stock=1, image_url=url)
        )
        assert product.image_url == url


def test_it_finds_the_products_of_some_ids_in_one_query(session):
    kept = make_product(session, name="Kept")
    gone = make_product(session, name="Gone")
    update_product(session, gone.id, ProductInput(active=False))
    ids = [kept.id, gone.id, kept.id, 999_999, 0, -3, 2**70]
    session.expire_all()
    with statements_run(session) as statements:
        found = find_products(session, ids)
    assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) == 1
    assert {i: p.name for i, p in found.items()} == {ids[0]: "Kept", ids[1]: "Gone"}
    assert find_products(session, [0, -1]) == {}
