"""POST /users (admin) and POST /register (anyone)."""

from __future__ import annotations

from typing import Any

from flask import jsonify

from app.current import current_config, db_session
from app.extensions import rate_limit
from app.models.users import Role
from app.services.users import create_user, register_customer
from views.api import actor, bp
from views.api.schemas import Registration, UserCreate
from views.api.serializers import user_json
from views.parsing import json_body, validate


@bp.post("/users")
def user_create() -> Any:
    actor(Role.ADMIN)
    body = validate(UserCreate, json_body())
    user = create_user(db_session(), **body.model_dump())
    return jsonify(user_json(user)), 201


@bp.post("/register")
@rate_limit(lambda: current_config().register_rate_limit, scope="register")
def user_register() -> Any:
    body = validate(Registration, json_body())
    user = register_customer(db_session(), **body.model_dump())
    return jsonify(user_json(user)), 201
