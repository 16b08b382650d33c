"""Placeholder; replaced by the real pages."""

from flask import Blueprint

bp = Blueprint("orders", __name__)
