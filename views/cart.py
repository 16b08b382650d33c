"""Placeholder; replaced by the real pages."""

from flask import Blueprint

bp = Blueprint("cart", __name__)
