"""Placeholder; replaced by the real pages."""

from flask import Blueprint

bp = Blueprint("staff", __name__)


@bp.get("/staff")
def home() -> str:
    return "staff"
