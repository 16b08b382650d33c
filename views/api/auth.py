"""POST /auth/token: a bearer token for a username and password."""

from __future__ import annotations

from typing import Any

from flask import jsonify

from app.current import current_config
from app.errors import Unauthorized
from app.services.users import issue_token
from views.api import bp
from views.api.schemas import TokenRequest
from views.api.serializers import user_json
from views.parsing import json_body, validate
from views.users import guard


@bp.post("/auth/token")
def auth_token() -> Any:
    body = validate(TokenRequest, json_body())
    user = guard.sign_in(body.username, body.password)
    if user is None:
        raise Unauthorized("wrong username or password")
    return jsonify(token=issue_token(user, current_config().secret_key), user=user_json(user))
