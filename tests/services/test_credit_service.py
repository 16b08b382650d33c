"""Store credit: a ledger whose balance is the sum of its entries and never goes negative."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.db import transaction
from app.errors import ValidationError
from app.models.credit import CreditEntry
from app.services.credit import (
    add_credit_entry,
    credit_balance,
    grant_credit,
    list_credit_entries,
)
from tests.builders import make_user


def test_it_sums_the_ledger_into_the_balance(session, customer, admin):
    assert credit_balance(session, customer.id) == 0
    grant_credit(
        session, customer_id=customer.id, amount_cents=500, reason="gift", actor_id=admin.id
    )
    grant_credit(session, customer_id=customer.id, amount_cents=250, reason="gift", actor_id=None)
    assert credit_balance(session, customer.id) == 750
    entry = session.scalars(select(CreditEntry).order_by(CreditEntry.id)).first()
    assert (entry.created_by, entry.reason) == (admin.id, "gift")


def test_it_keeps_each_customers_balance_apart(session, customer):
    other = make_user(session, "customer")
    grant_credit(session, customer_id=other.id, amount_cents=900, reason="gift", actor_id=None)
    assert credit_balance(session, customer.id) == 0
    assert credit_balance(session, other.id) == 900


@pytest.mark.parametrize("amount", [0, -5])
def test_it_only_grants_positive_amounts(session, customer, amount):
    with pytest.raises(ValidationError) as caught:
        grant_credit(
            session, customer_id=customer.id, amount_cents=amount, reason="x", actor_id=None
        )
    assert set(caught.value.fields) == {"amount_cents"}
    assert list_credit_entries(session, customer.id) == []


def test_it_lets_a_spend_use_the_balance_exactly(session, customer):
    grant_credit(session, customer_id=customer.id, amount_cents=300, reason="gift", actor_id=None)
    with transaction(session):
        add_credit_entry(session, customer_id=customer.id, amount_cents=-300, reason="spend")
    assert credit_balance(session, customer.id) == 0


def test_it_never_overdraws_the_ledger(session, customer):
    grant_credit(session, customer_id=customer.id, amount_cents=300, reason="gift", actor_id=None)
    with pytest.raises(ValidationError), transaction(session):
        add_credit_entry(session, customer_id=customer.id, amount_cents=-301, reason="spend")
    assert credit_balance(session, customer.id) == 300
    assert len(list_credit_entries(session, customer.id)) == 1


def test_it_lists_entries_newest_first(session, customer):
    for amount in (100, 200, 300):
        grant_credit(
            session, customer_id=customer.id, amount_cents=amount, reason="gift", actor_id=None
        )
    assert [e.amount_cents for e in list_credit_entries(session, customer.id)] == [300, 200, 100]
