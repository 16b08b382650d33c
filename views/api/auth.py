"""POST /auth/token: a bearer token for a username and password."""

from __future__ import annotations

from typing import Any

from flask import jsonify

from app.current import current_config
from app.errors import Unauthorized
from app.services.users import issue_token
from views.api import bp
from views.api.serializers import user_json
from views.parsing import get_str, json_body, raise_if
from views.users import guard


@bp.post("/auth/token")
def auth_token() -> Any:
    data = json_body()
    problems: dict[str, str] = {}
    username = get_str(data, "username", problems, max_len=200)
    password = get_str(data, "password", problems, max_len=1000)
    raise_if(problems)
    user = guard.sign_in(username, password)
    if user is None:
        raise Unauthorized("wrong username or password")
    return jsonify(token=issue_token(user, current_config().secret_key), user=user_json(user))
