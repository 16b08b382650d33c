"""Accounts: registration, staff creation, sign-in, API tokens, passwords, deactivation,
ending a user's sessions, and how pages name a person beside a record (`display_name`)."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key
from werkzeug.security import check_password_hash, generate_password_hash

from app.db import NUL, NUL_MESSAGE, as_loaded, is_row_id, transaction
from app.errors import Conflict, NotFound, ValidationError
from app.models.users import Role, User
from app.services.pagination import Page, paginate
from app.services.read_cache import user_reads

MIN_PASSWORD = 8
USERNAME_RE = re.compile(r"^[A-Za-z0-9_.@-]{3,64}$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# Verifying against this when the user is unknown keeps sign-in time the same either way.
_DUMMY_HASH = generate_password_hash("not-a-real-password", method="scrypt")


# werkzeug's scrypt default (N=2**15). Tests lower the cost; production never does.
HASH_METHOD = "scrypt"


def hash_password(password: str) -> str:
    return generate_password_hash(password, method=HASH_METHOD)


def password_problem(password: str) -> str | None:
    """What is wrong with `password` as a new password, or None."""
    if len(password) < MIN_PASSWORD:
        return f"must have at least {MIN_PASSWORD} characters"
    if len(password) > 256:
        return "must have at most 256 characters"
    return None


def check_user_fields(
    *, username: str, password: str, role: str, email: str = "", name: str = ""
) -> None:
    """Raise ValidationError naming every bad field at once."""
    problems: dict[str, str] = {}
    if not USERNAME_RE.match(username):
        problems["username"] = "3-64 letters, digits or . _ @ -"
    if problem := password_problem(password):
        problems["password"] = problem
    if role not in {r.value for r in Role}:
        problems["role"] = f"must be one of {', '.join(r.value for r in Role)}"
    if email and (len(email) > 254 or not EMAIL_RE.match(email)):
        problems["email"] = "is not an email address"
    if len(name) > 120:
        problems["name"] = "must have at most 120 characters"
    for label, value in (("name", name), ("email", email)):
        if NUL in value:
            problems[label] = NUL_MESSAGE
    if problems:
        raise ValidationError(problems)


def create_user(
    session: Session,
    *,
    username: str,
    password: str,
    role: str,
    name: str = "",
    email: str = "",
) -> User:
    """Create an account with a hashed password.

    Raises ValidationError, Conflict(username_taken)."""
    username = username.strip()
    check_user_fields(username=username, password=password, role=role, email=email, name=name)
    user = User(
        username=username,
        password_hash=hash_password(password),
        role=role,
        name=name.strip(),
        email=email.strip(),
    )
    try:
        with transaction(session):
            if find_user(session, username) is not None:
                raise Conflict("that username is taken", code="username_taken")
            session.add(user)
    except IntegrityError as exc:  # a concurrent create of the same name got there first
        raise Conflict("that username is taken", code="username_taken") from exc
    return user


def register_customer(session: Session, *, username: str, password: str, email: str) -> User:
    """Self-service sign-up: always a customer, an email is required."""
    if not email:
        raise ValidationError({"email": "is required"})
    return create_user(
        session, username=username, password=password, role=Role.CUSTOMER, email=email
    )


def find_user(session: Session, username: str) -> User | None:
    return session.scalars(select(User).where(User.username == username)).first()


def get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id) if is_row_id(user_id) else None
    if user is None:
        raise NotFound("no such user")
    return user


def authenticate(session: Session, username: str, password: str) -> User | None:
    """The active user with this name and password, or None (same timing either way)."""
    user = find_user(session, username.strip()) if username and NUL not in username else None
    if user is None:
        check_password_hash(_DUMMY_HASH, password)
        return None
    if not check_password_hash(user.password_hash, password) or not user.active:
        return None
    return user


@functools.lru_cache(maxsize=4)
def _token_signer(secret: str) -> URLSafeTimedSerializer:
    """Built once per key: every API request verifies a token, and building costs more."""
    return URLSafeTimedSerializer(secret, salt="api-token")


def issue_token(user: User, secret: str) -> str:
    """A signed bearer token, honoured until it expires or the user's sessions end
    (`end_sessions`: sign-out, a new password, deactivation)."""
    return _token_signer(secret).dumps({"uid": user.id, "ep": user.session_epoch})


def user_for_token(session: Session, token: str, secret: str, *, max_age: int) -> User | None:
    """The active user a token was issued to, or None if it is forged, old or revoked."""
    try:
        data = _token_signer(secret).loads(token, max_age=max_age)
    except BadSignature:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("uid"), int):
        return None
    user = active_user(session, data["uid"])
    if user is None or type(data.get("ep")) is not int or data["ep"] != user.session_epoch:
        return None
    return user


_USER_BY_ID = select(User.__table__).where(User.__table__.c.id == bindparam("uid"))


def active_user(session: Session, user_id: int) -> User | None:
    """The active account with this id, for authenticating a request (cookie or token).

    Every signed-in request needs it, so its row is read at most once a second per process
    (`user_reads`) and at once after this process changed an account; a deactivation made by
    another process applies within that second. Each call gets its own instance in
    `session`, as if just loaded (no SQL)."""
    if not is_row_id(user_id):
        return None

    def load() -> dict[str, object] | None:
        row = session.connection().execute(_USER_BY_ID, {"uid": user_id}).mappings().first()
        return dict(row) if row is not None else None

    values = user_reads.get(session, ("user", user_id), load)
    if values is None or not values["active"]:
        return None
    existing = session.identity_map.get(identity_key(User, user_id))
    if existing is not None:
        return existing if isinstance(existing, User) and existing.active else None
    user = as_loaded(User, values)
    make_transient_to_detached(user)  # its identity, as if loaded in this session
    session.add(user)
    return user


def list_users(session: Session, *, page: int = 1, per_page: int = 50) -> Page[User]:
    return paginate(
        session, select(User).order_by(User.role, User.username), page=page, per_page=per_page
    )


def set_user_active(session: Session, user_id: int, *, active: bool, actor: User) -> User:
    """Activate or deactivate an account; an admin cannot deactivate themselves.
    Deactivating ends the account's sessions and tokens (reactivating revives none)."""
    if user_id == actor.id and not active:
        raise ValidationError({"active": "you cannot deactivate your own account"})
    with transaction(session):
        user = get_user(session, user_id)
        user.active = active
        if not active:
            _raise_epoch(session, user)
    user_reads.changed()
    return user


def end_sessions(session: Session, user_id: int) -> int:
    """End every session and API token the user has (one transaction; sign-out); returns
    the new epoch. Another web process notices within a second (`active_user`)."""
    with transaction(session):
        epoch = _raise_epoch(session, get_user(session, user_id))
    user_reads.changed()
    return epoch


def set_password(session: Session, user_id: int, password: str) -> User:
    """Give the user a new password (theirs, or an admin's reset) and end every
    session and token they have (one transaction). Raises ValidationError, NotFound."""
    problem = password_problem(password)
    if problem:
        raise ValidationError({"password": problem})
    password_hash = hash_password(password)  # slow on purpose: outside the transaction
    with transaction(session):
        user = get_user(session, user_id)
        user.password_hash = password_hash
        _raise_epoch(session, user)
    user_reads.changed()
    return user


def _raise_epoch(session: Session, user: User) -> int:
    """Raise the epoch in the database (atomically, whatever else raises it meanwhile)."""
    epoch = session.scalar(
        update(User)
        .where(User.id == user.id)
        .values(session_epoch=User.session_epoch + 1)
        .returning(User.session_epoch)
    )
    assert epoch is not None
    set_committed_value(user, "session_epoch", epoch)
    return int(epoch)


def ensure_admin(session: Session, username: str, password: str) -> bool:
    """Create this admin unless a user of that name exists. True when one was created."""
    if find_user(session, username) is not None:
        return False
    try:
        create_user(session, username=username, password=password, role=Role.ADMIN)
    except Conflict:
        return False
    return True


def usernames_by_id(session: Session, user_ids: Iterable[int]) -> dict[int, str]:
    """Username per user id, for the ids that exist."""
    ids = sorted(set(user_ids))
    if not ids:
        return {}
    rows = session.execute(select(User.id, User.username).where(User.id.in_(ids)))
    return {row.id: row.username for row in rows}


class Named(Protocol):
    """Anything that names a person: a `User`, a `Person`."""

    @property
    def username(self) -> str: ...

    @property
    def name(self) -> str: ...


@dataclass(frozen=True)
class Person:
    """Who a record names (its customer, the actor of a step), enough to show them."""

    username: str
    name: str = ""


def display_name(person: Named, *, with_username: bool = False) -> str:
    """The one way every page names a person: the name they gave, else their username.
    `with_username` (staff pages, where the account matters) adds the username when the
    name is not it: 'Casey Customer (casey)'."""
    name = (person.name or "").strip()
    if not name or name == person.username:
        return person.username
    return f"{name} ({person.username})" if with_username else name


def people_by_id(session: Session, user_ids: Iterable[int]) -> dict[int, Person]:
    """Each existing user's `Person` (username and name), in one query."""
    ids = sorted(set(user_ids))
    if not ids:
        return {}
    rows = session.execute(select(User.id, User.username, User.name).where(User.id.in_(ids)))
    return {row.id: Person(row.username, row.name or "") for row in rows}
