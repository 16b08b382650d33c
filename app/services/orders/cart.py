"""Pricing a shopping cart held by the browser: what is in it, at today's prices.

The cart itself is a plain mapping product id -> quantity kept by the caller (the web
session); these functions only read the catalog. Prices are always the current ones, so
what the cart shows is what checkout charges. Products that are gone, inactive or out of
stock drop out with a notice; quantities above the stock are lowered to it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import Conflict, ValidationError
from app.models.catalog import Product
from app.services.catalog.products import get_product
from app.services.orders.checkout import MAX_LINES, MAX_QUANTITY


@dataclass(frozen=True)
class CartLine:
    product: Product
    quantity: int

    @property
    def total_cents(self) -> int:
        return self.product.price_cents * self.quantity


@dataclass
class PricedCart:
    lines: list[CartLine] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)

    @property
    def items(self) -> dict[int, int]:
        """The cleaned cart, to be stored back."""
        return {line.product.id: line.quantity for line in self.lines}

    @property
    def total_cents(self) -> int:
        return sum(line.total_cents for line in self.lines)

    @property
    def count(self) -> int:
        return sum(line.quantity for line in self.lines)


def _limit(product: Product) -> int:
    return min(product.stock, MAX_QUANTITY)


def price_cart(session: Session, items: Mapping[int, int]) -> PricedCart:
    """Current prices for the cart. Read-only; the notices say what had to change."""
    cart = PricedCart()
    if not items:
        return cart
    products = {
        p.id: p for p in session.scalars(select(Product).where(Product.id.in_(list(items))))
    }
    for product_id, quantity in items.items():
        product = products.get(product_id)
        if product is None or not product.active:
            name = product.name if product is not None else "A product"
            cart.notices.append(f"{name} is no longer available and was removed from your cart.")
            continue
        if product.stock <= 0:
            cart.notices.append(f"{product.name} is out of stock and was removed from your cart.")
            continue
        if quantity > _limit(product):
            quantity = _limit(product)
            cart.notices.append(f"Only {quantity} of {product.name} available; quantity lowered.")
        cart.lines.append(CartLine(product, max(1, quantity)))
    return cart


def add_to_cart(
    session: Session, items: Mapping[int, int], product_id: int, quantity: int
) -> tuple[dict[int, int], Product, str | None]:
    """The cart with `quantity` more of the product (at most its stock), the product, and a
    notice when the quantity had to be lowered. NotFound for unknown or inactive products,
    Conflict(out_of_stock) when none is left, ValidationError for a full cart."""
    product = get_product(session, product_id)
    if product.stock <= 0:
        raise Conflict(f"{product.name} is out of stock", code="out_of_stock")
    cart = dict(items)
    if product_id not in cart and len(cart) >= MAX_LINES:
        raise ValidationError({"cart": f"can hold at most {MAX_LINES} different products"})
    wanted = cart.get(product_id, 0) + quantity
    notice = None
    if wanted > _limit(product):
        wanted = _limit(product)
        notice = f"Only {wanted} of {product.name} available; your cart has {wanted}."
    cart[product_id] = wanted
    return cart, product, notice


def set_cart_quantity(
    session: Session, items: Mapping[int, int], product_id: int, quantity: int
) -> tuple[dict[int, int], str | None]:
    """The cart with the product's quantity set (0 removes it), and a notice when lowered."""
    cart = dict(items)
    if quantity <= 0:
        cart.pop(product_id, None)
        return cart, None
    if product_id not in cart:
        new_cart, _product, notice = add_to_cart(session, cart, product_id, quantity)
        return new_cart, notice
    product = session.get(Product, product_id)
    notice = None
    if product is not None and product.active and quantity > _limit(product):
        quantity = max(1, _limit(product))
        notice = f"Only {quantity} of {product.name} available; quantity lowered."
    cart[product_id] = quantity
    return cart, notice
