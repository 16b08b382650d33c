"""Small builders for test data; each writes through the real services where one exists."""

from __future__ import annotations

import secrets

from sqlalchemy.orm import Session

from app.models.catalog import Product
from app.models.users import User
from app.services.catalog import ProductInput, create_product
from app.services.users import create_user

PASSWORD = "password123"


def make_user(
    session: Session,
    role: str = "customer",
    *,
    username: str | None = None,
    password: str = PASSWORD,
) -> User:
    return create_user(
        session,
        username=username or f"{role}-{secrets.token_hex(3)}",
        password=password,
        role=role,
        email=f"{role}@example.com",
    )


def make_product(
    session: Session,
    *,
    sku: str | None = None,
    name: str = "Test Widget",
    price_cents: int = 1000,
    stock: int = 10,
    category: str = "Tests",
    description: str = "",
) -> Product:
    return create_product(
        session,
        ProductInput(
            sku=sku or f"T-{secrets.token_hex(3)}",
            name=name,
            price_cents=price_cents,
            stock=stock,
            category=category,
            description=description,
        ),
    )
