"""Typed SQLAlchemy models, one module per aggregate; importing this registers them all."""

from app.models.catalog import Product
from app.models.credit import CreditEntry
from app.models.flash_sales import (
    FlashHold,
    FlashSale,
    FlashSaleEvent,
    FlashSaleItem,
    HoldStatus,
    SaleState,
)
from app.models.ops import Heartbeat, JobRun
from app.models.orders import IdempotencyRecord, Order, OrderLine, OrderStatus
from app.models.outbox import Notification, OutboxMessage, Setting
from app.models.payments import GatewayCharge, Payment, PaymentStatus
from app.models.returns import (
    ReturnEvent,
    ReturnLine,
    ReturnPhoto,
    ReturnRequest,
    WorkflowDefinition,
)
from app.models.users import STAFF_ROLES, Role, User

__all__ = [
    "STAFF_ROLES",
    "CreditEntry",
    "FlashHold",
    "FlashSale",
    "FlashSaleEvent",
    "FlashSaleItem",
    "GatewayCharge",
    "Heartbeat",
    "HoldStatus",
    "IdempotencyRecord",
    "JobRun",
    "Notification",
    "Order",
    "OrderLine",
    "OrderStatus",
    "OutboxMessage",
    "Payment",
    "PaymentStatus",
    "Product",
    "ReturnEvent",
    "ReturnLine",
    "ReturnPhoto",
    "ReturnRequest",
    "Role",
    "SaleState",
    "Setting",
    "User",
    "WorkflowDefinition",
]
