"""Typed SQLAlchemy models, one module per aggregate; importing this registers them all."""

from app.models.catalog import Product
from app.models.credit import CreditEntry
from app.models.ops import Heartbeat, JobRun
from app.models.orders import IdempotencyRecord, Order, OrderLine, OrderStatus
from app.models.payments import GatewayCharge, Payment, PaymentStatus
from app.models.users import STAFF_ROLES, Role, User

__all__ = [
    "STAFF_ROLES",
    "CreditEntry",
    "GatewayCharge",
    "Heartbeat",
    "IdempotencyRecord",
    "JobRun",
    "Order",
    "OrderLine",
    "OrderStatus",
    "Payment",
    "PaymentStatus",
    "Product",
    "Role",
    "User",
]
