from tests.builders import make_product
from tests.conftest import bearer


def test_it_places_a_paid_order_and_takes_stock(client, session, customer):
    product = make_product(session, stock=3, price_cents=1500)
    headers = bearer(client, customer)
    response = client.post(
        "/api/v1/orders",
        json={
            "lines": [{"product_id": product.id, "quantity": 2}],
            "payment": {"card_number": "4242424242424242"},
        },
        headers=headers,
    )
    assert response.status_code == 201, response.json
    assert response.json["status"] == "paid"
    assert response.json["total_cents"] == 3000
    session.refresh(product)
    assert product.stock == 1
