"""`Idempotency-Key` for API calls that create something (orders, flash-sale checkouts):
a repeat with the same key and body gets the first answer again and creates nothing new."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Response, request

from app.current import db_session
from app.errors import DomainError
from app.models.orders import Order
from app.services.idempotency import claim_key, store_response
from views.api.serializers import order_created
from views.errors import render_domain_error
from views.parsing import Body, json_body, validate

B = TypeVar("B", bound=Body)


def idempotent(scope: str, user_id: int, payload: Any, work: Any) -> Response:
    """Run `work()` once per Idempotency-Key; repeats get the first response back."""
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return work()
    session = db_session()
    record_id, stored = claim_key(session, user_id=user_id, scope=scope, key=key, payload=payload)
    if stored is not None:
        return Response(stored.body, status=stored.status, mimetype="application/json")
    assert record_id is not None
    try:
        response: Response = work()
    except DomainError as error:  # kept: a repeat must get this very refusal back
        response = render_domain_error(error)
    except BaseException:
        store_response(session, record_id, status=500, body="")
        raise
    store_response(
        session, record_id, status=response.status_code, body=response.get_data(as_text=True)
    )
    return response


def order_once(
    scope: str, customer_id: int, model: type[B], place: Callable[[B], Order]
) -> Response:
    """201 with the order `place` makes from the JSON body read as `model`, once per
    Idempotency-Key. The body is checked inside, so a repeat gets even a 422 back as it was."""
    data = json_body()
    return idempotent(scope, customer_id, data, lambda: order_created(place(validate(model, data))))
