"""Placeholder; replaced by the real pages."""

from flask import Blueprint

bp = Blueprint("catalog", __name__)


@bp.get("/products")
def index() -> str:
    return "catalog"
