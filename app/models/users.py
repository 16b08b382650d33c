"""People who sign in: customers and the four staff roles."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UTCDateTime, utcnow


class Role(StrEnum):
    CUSTOMER = "customer"
    SUPPORT = "support"
    WAREHOUSE = "warehouse"
    FINANCE = "finance"
    ADMIN = "admin"

    @property
    def is_staff(self) -> bool:
        return self is not Role.CUSTOMER


STAFF_ROLES = frozenset(r for r in Role if r.is_staff)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), index=True)
    name: Mapped[str] = mapped_column(String(120), default="")
    email: Mapped[str] = mapped_column(String(254), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Raised to end every session and API token issued before: sign-out, a password change,
    # a password set by an admin, deactivation. Sessions and tokens carry the epoch they
    # began in and are honoured only while it is still the user's.
    session_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    # flask-login's user protocol, kept here so views need no wrapper class.
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return str(self.id)

    @property
    def is_staff(self) -> bool:
        return self.role != Role.CUSTOMER

    def has_role(self, *roles: str) -> bool:
        """Admins may do anything; everyone else only what their role names."""
        return self.role == Role.ADMIN or self.role in roles
