"""Moving returns in flight to the published RMA version (/admin/workflows/rma/migrate): the
admin picks the version to move from, the page shows the dry run (how many returns move
from which state to which, with a choice of destination per state), and one button moves
them all, audited. Nothing moves until that button; a plan with problems cannot be sent."""

from __future__ import annotations

from flask import Response, flash, render_template, request, url_for

from app.current import db_session
from app.db import clean_text, utcnow
from app.errors import ValidationError
from app.services.returns import MigrationPlan, migrate_returns, plan_migration
from app.services.workflows import RMA, list_versions, load_engine
from views.access import admin_pages as bp
from views.access import signed_in_user
from views.parsing import form_int, whole_number
from views.rendering import redirect_to


@bp.route("/workflows/rma/migrate", methods=["GET", "POST"])
def workflow_migration() -> Response | str:
    session = db_session()
    versions = list_versions(session, RMA)
    to_version = versions.published or 1
    sources = [v.version for v in versions.versions if v.status == "retired"]
    problems: dict[str, str] = {}
    raw = request.form.get("from_version") or request.args.get("from", "")
    from_version = form_int("from_version", problems, required=False, minimum=1) if (
        request.method == "POST"
    ) else whole_number(raw, digits=9)  # fmt: skip
    if from_version is not None and from_version not in sources:
        problems["from_version"] = "choose a version returns can move from"
    plan, targets = None, []
    if from_version is not None and not problems:
        mapping = {
            key.removeprefix("to-"): clean_text(value)[:40]
            for key, value in request.form.items()
            if key.startswith("to-") and value
        }
        if request.form.get("action") == "move":
            # To the version the admin saw planned: if another was published since, the
            # service refuses and the page shows the plan again, for the new one.
            seen = form_int("to_version", problems, required=False, minimum=1)
            return _move(from_version, seen or to_version, mapping)
        plan = plan_migration(
            session, from_version=from_version, to_version=to_version, mapping=mapping
        )
        engine = load_engine(session, RMA, to_version)
        targets = [(s.name, s.label) for s in engine.definition.states if not s.terminal]
    return render_template(
        "workflows/migration.html",
        sources=sources,
        from_version=from_version,
        to_version=to_version,
        plan=plan,
        targets=targets,
        problems=problems,
    )


def _move(from_version: int, to_version: int, mapping: dict[str, str]) -> Response | str:
    try:
        plan: MigrationPlan = migrate_returns(
            db_session(), from_version=from_version, to_version=to_version, mapping=mapping,
            actor=signed_in_user(), now=utcnow(),
        )  # fmt: skip
    except ValidationError:  # the plan changed under the admin: show it again with its problems
        flash("Nothing was moved: the plan has problems now. Check it and try again.", "error")
        return redirect_to(f"{url_for('admin.workflow_migration')}?from={from_version}")
    flash(
        f"Moved {plan.total} return{'s' if plan.total != 1 else ''} from version "
        f"{from_version} to version {to_version}.",
        "success",
    )
    return redirect_to(url_for("admin.workflow_migration"))
