"""The read-only admin pages of the workflows (/admin/workflows): each workflow with its
published version, drafts and latest change; one workflow's versions and their history;
one version's diagram (inline SVG drawn on the server from `workflows.diagram`'s layout)
with the live count and SLA breaches of each state, and the tables that say the same in
words. The version page refreshes its counts every 10 s (htmx asks the same URL for the
partial). Only the RMA workflow is editable; the editor's pages are linked, not served here.
"""

from __future__ import annotations

from flask import Response, make_response, render_template

from app.current import db_session
from app.db import utcnow
from app.services.workflows import get_version_diagram, get_workflow, list_workflows
from views.access import admin_pages
from views.parsing import ID
from views.rendering import page_or_partial

NAME = "<string(maxlength=40):name>"
REFRESH_SECONDS = 10


@admin_pages.get("/workflows")
def workflows() -> Response:
    return make_response(
        render_template("workflows/index.html", workflows=list_workflows(db_session()))
    )


@admin_pages.get(f"/workflows/{NAME}")
def workflow(name: str) -> Response:
    return make_response(
        render_template("workflows/workflow.html", workflow=get_workflow(db_session(), name))
    )


@admin_pages.get(f"/workflows/{NAME}/versions/<{ID}:version>")
def workflow_version(name: str, version: int) -> Response:
    now = utcnow()
    shown = get_version_diagram(db_session(), name, version, now=now)
    return page_or_partial(
        "workflows/version.html",
        "workflows/_live.html",
        shown=shown,
        workflow=shown.workflow,
        now=now,
        refresh=REFRESH_SECONDS,
    )
