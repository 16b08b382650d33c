"""The admin's draft editor of the RMA workflow (/admin/workflows/<name>/...): a new draft
(from the published version, or from an earlier one to roll back), the form of its states
and transitions with rows added and removed by a server round trip, problems shown as the
admin types (htmx) next to the row that causes them, a raw JSON form, the diff against the
published version, saving with the draft's revision (409 when another admin saved first,
the admin's input kept) and publishing after a confirmation page.

The form's rows and how they become a definition are views/workflows/editor_form.py.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Response, flash, make_response, render_template, request, url_for

from app.current import db_session
from app.db import utcnow
from app.errors import Conflict, ValidationError
from app.services.returns import count_returns_in_flight
from app.services.workflows import (
    VersionInfo,
    compare_with_published,
    create_draft,
    definition_problems,
    editor_choices,
    get_version,
    list_versions,
    publish_version,
    update_draft,
)
from views.access import admin_pages, signed_in_user
from views.parsing import ID, whole_number
from views.rendering import is_partial, redirect_to, varies_with_htmx
from views.workflows.editor_form import Submitted, as_stored, place_problems, submitted

NAME = "<string(maxlength=40):name>"
VERSION = f"<{ID}:version>"
STALE = "Someone else saved this draft first — reload to see their version. Nothing was saved."


def _base(name: str, version: int) -> str:
    return f"/admin/workflows/{name}/versions/{version}"


def _render(
    name: str,
    info: VersionInfo,
    sub: Submitted,
    *,
    revision: str,
    status: int = 200,
    problems: list[str] | None = None,
    alert: str = "",
) -> Response:
    """The editor page, or for htmx only its form; `problems` shown beside their rows."""
    placed = place_problems(problems or [], sub.draft, sub.state_rows, sub.transition_rows)
    context: dict[str, Any] = {
        "name": name,
        "info": info,
        "draft": sub.draft,
        "revision": revision,
        "placed": placed,
        "checked": problems is not None,
        "alert": alert,
        "choices": editor_choices(),
        "state_names": [n for n in dict.fromkeys(r["name"].strip() for r in sub.draft.states) if n],
        "base": _base(name, info.version),
    }
    if is_partial():
        html = render_template("workflows/editor/_form.html", **context)
    else:
        context["comparison"] = compare_with_published(db_session(), name, sub.definition)
        context["raw_sent"] = sub.raw is not None
        context["raw"] = sub.raw if sub.raw is not None else json.dumps(sub.definition, indent=2)
        html = render_template("workflows/editor/edit.html", **context)
    return varies_with_htmx(make_response(html, status))


def _draft_or_redirect(name: str, version: int) -> VersionInfo | Response:
    """The version when it is a draft; else a redirect to its read-only page."""
    info = get_version(db_session(), name, version)
    if info.status != "draft":
        flash(f"Version {version} is {info.status} and never changes: start a new draft from it.")
        return redirect_to(_base(name, version))
    return info


def _problems_of(error: ValidationError) -> list[str]:
    return [str(p) for p in error.details.get("problems") or [error.message]]


@admin_pages.route(f"/workflows/{NAME}/drafts/new", methods=["GET", "POST"])
def workflow_draft_new(name: str) -> Response:
    """GET: what the new draft starts from; POST: create it (a copy of version `from`, or of
    the published one) and open its editor. Copying an earlier version and publishing the
    copy is how a workflow is rolled back."""
    session = db_session()
    versions = list_versions(session, name)
    raw = (request.values.get("from") or "").strip()
    start = whole_number(raw, digits=9) or versions.published
    source = next((v for v in versions.versions if v.version == start), None)
    if request.method == "GET" or source is None:
        html = render_template(
            "workflows/editor/new.html", name=name, versions=versions, source=source
        )
        return make_response(html, 404 if source is None and raw else 200)
    definition = get_version(session, name, source.version).definition
    info = create_draft(session, name, definition, actor=signed_in_user().id, now=utcnow())
    flash(f"Draft version {info.version} created from version {source.version}.", "success")
    return redirect_to(url_for("admin.workflow_edit", name=name, version=info.version))


@admin_pages.get(f"/workflows/{NAME}/versions/{VERSION}/edit")
def workflow_edit(name: str, version: int) -> Response:
    info = _draft_or_redirect(name, version)
    if isinstance(info, Response):
        return info
    return _render(name, info, as_stored(info.definition), revision=str(info.revision))


@admin_pages.post(f"/workflows/{NAME}/versions/{VERSION}/validate")
def workflow_validate(name: str, version: int) -> Response:
    """The problems of what is typed: for htmx the problems list (each row's own problems
    swapped beside it out of band), without JavaScript the whole editor."""
    info = get_version(db_session(), name, version)
    sub = submitted(name)
    problems = sub.unreadable or definition_problems(name, sub.definition)
    revision = request.form.get("revision", "")[:12]
    if not is_partial():
        return _render(name, info, sub, revision=revision, problems=problems)
    placed = place_problems(problems, sub.draft, sub.state_rows, sub.transition_rows)
    html = render_template(
        "workflows/editor/_problems.html", placed=placed, draft=sub.draft, checked=True, oob=True
    )
    return varies_with_htmx(make_response(html))


@admin_pages.post(f"/workflows/{NAME}/versions/{VERSION}")
def workflow_save(name: str, version: int) -> Response:
    """Save the draft (an `add_row`/`remove_row` button only re-renders the rows). 409 when someone
    saved it since the `revision` the form was rendered with; 422 with the problems."""
    info = _draft_or_redirect(name, version)
    if isinstance(info, Response):
        return info
    sub = submitted(name)
    revision = request.form.get("revision", "")[:12]
    if request.form.get("add_row") or request.form.get("remove_row"):
        problems = definition_problems(name, sub.definition)
        return _render(name, info, sub, revision=revision, problems=problems)
    if sub.unreadable or whole_number(revision, digits=12) is None:
        problems = sub.unreadable or ["the form lost its revision: reload the page"]
        return _render(name, info, sub, revision=revision, status=422, problems=problems)
    try:
        saved = update_draft(
            db_session(),
            name,
            version,
            sub.definition,
            revision=int(revision),
            actor=signed_in_user().id,
            now=utcnow(),
        )
    except ValidationError as error:
        alert = "The draft has problems, listed beside what causes them; nothing was saved."
        return _render(name, info, sub, revision=revision, status=422,
                       problems=_problems_of(error), alert=alert)  # fmt: skip
    except Conflict as error:
        alert = STALE if error.code == "stale_version" else error.message
        return _render(name, info, sub, revision=revision, status=409, alert=alert)
    flash(f"Saved draft version {version} (revision {saved.revision}).", "success")
    return redirect_to(url_for("admin.workflow_edit", name=name, version=version))


@admin_pages.route(f"/workflows/{NAME}/versions/{VERSION}/publish", methods=["GET", "POST"])
def workflow_publish(name: str, version: int) -> Response:
    """GET: what publishing will do (new returns take this version, returns in flight keep
    theirs) and a button; POST: publish, then the version's page."""
    info = _draft_or_redirect(name, version)
    if isinstance(info, Response):
        return info
    session = db_session()
    if request.method == "POST":
        try:
            publish_version(session, name, version, actor=signed_in_user().id, now=utcnow())
        except ValidationError as error:
            alert = "The draft cannot be published until these problems are fixed."
            return _render(name, info, as_stored(info.definition), revision=str(info.revision),
                           status=422, problems=_problems_of(error), alert=alert)  # fmt: skip
        except Conflict as error:
            flash(error.message, "warning")
            return redirect_to(_base(name, version))
        flash(
            f"Published version {version}: new returns start on it; returns in flight keep "
            "the version they started on.",
            "success",
        )
        return redirect_to(_base(name, version))
    html = render_template(
        "workflows/editor/publish.html",
        name=name,
        info=info,
        published=list_versions(session, name).published,
        in_flight=count_returns_in_flight(session),
        problems=definition_problems(name, info.definition),
        comparison=compare_with_published(session, name, info.definition),
        base=_base(name, version),
    )
    return make_response(html)
