"""Typed SQLAlchemy models, one module per aggregate; importing this registers them all."""

from app.models.catalog import Product
from app.models.credit import CreditEntry
from app.models.feeds import FeedChange, FeedImport, FeedRejection, Partner, PartnerKey
from app.models.flash_sales import (
    FlashHold,
    FlashSale,
    FlashSaleEvent,
    FlashSaleItem,
    HoldStatus,
    SaleState,
)
from app.models.idempotency import IdempotencyRecord
from app.models.monitoring import Heartbeat, JobRun
from app.models.orders import Order, OrderLine, OrderStatus
from app.models.payments import GatewayCharge, Payment, PaymentStatus
from app.models.returns import (
    Notice,
    OutboxMessage,
    ReturnEvent,
    ReturnLine,
    ReturnPhoto,
    ReturnRequest,
)
from app.models.settings import Setting
from app.models.users import STAFF_ROLES, Role, User
from app.models.workflows import WorkflowDefinition, WorkflowMigration

__all__ = [
    "STAFF_ROLES",
    "CreditEntry",
    "FeedChange",
    "FeedImport",
    "FeedRejection",
    "FlashHold",
    "FlashSale",
    "FlashSaleEvent",
    "FlashSaleItem",
    "GatewayCharge",
    "Heartbeat",
    "HoldStatus",
    "IdempotencyRecord",
    "JobRun",
    "Notice",
    "Order",
    "OrderLine",
    "OrderStatus",
    "OutboxMessage",
    "Partner",
    "PartnerKey",
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
    "WorkflowMigration",
]
