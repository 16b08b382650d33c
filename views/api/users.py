"""POST /users (admin) and POST /register (anyone)."""

from __future__ import annotations

from typing import Any

from flask import jsonify

from app.current import current_config, db_session
from app.extensions import rate_limit
from app.models.users import Role
from app.services.users import create_user, register_customer
from views.api import actor, bp
from views.api.serializers import user_json
from views.parsing import get_str, json_body, raise_if


@bp.post("/users")
def user_create() -> Any:
    actor(Role.ADMIN)
    data = json_body()
    problems: dict[str, str] = {}
    fields = {
        "username": get_str(data, "username", problems, max_len=200),
        "password": get_str(data, "password", problems, max_len=1000),
        "role": get_str(data, "role", problems, max_len=50),
        "name": get_str(data, "name", problems, required=False, max_len=200),
        "email": get_str(data, "email", problems, required=False, max_len=400),
    }
    raise_if(problems)
    user = create_user(db_session(), **fields)
    return jsonify(user_json(user)), 201


@bp.post("/register")
@rate_limit(lambda: current_config().register_rate_limit, scope="register")
def user_register() -> Any:
    data = json_body()
    problems: dict[str, str] = {}
    username = get_str(data, "username", problems, max_len=200)
    password = get_str(data, "password", problems, max_len=1000)
    email = get_str(data, "email", problems, max_len=400)
    raise_if(problems)
    user = register_customer(db_session(), username=username, password=password, email=email)
    return jsonify(user_json(user)), 201
