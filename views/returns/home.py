"""The staff home (/staff): what the signed-in role may use, and nothing more."""

from __future__ import annotations

from flask import Blueprint, render_template

from app.models.users import Role
from views.access import signed_in_user, staff_required

bp = Blueprint("staff", __name__)
TEAMS = (Role.SUPPORT, Role.WAREHOUSE, Role.FINANCE)


@bp.get("/staff")
@staff_required
def home() -> str:
    user = signed_in_user()
    teams = [team.value for team in TEAMS if user.has_role(team)]
    return render_template(
        "returns/staff/home.html", teams=teams, is_admin=user.has_role(Role.ADMIN)
    )
