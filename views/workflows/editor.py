"""The admin's draft editor of the RMA workflow (/admin/workflows/<name>/...): a new draft
(from the published version, or from an earlier one to roll back), the form of its states
and transitions with rows added and removed by a server round trip, problems shown as the
admin types (htmx) next to the row that causes them, a raw JSON form, the diff against the
published version, saving with the draft's revision (409 when another admin saved first,
the admin's input kept) and publishing after a confirmation page.

Form rows are numbered `states-N-attr`, `transitions-N-attr` and
`transitions-N-fields-M-attr`; every render numbers them from 0 again. Blank rows are kept
on screen but left out of the definition, so `row_of` maps a definition index to its row.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
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
    definition_shape_problems,
    editor_choices,
    get_version,
    list_versions,
    publish_version,
    update_draft,
)
from views.access import admin_pages, signed_in_user
from views.parsing import ID, whole_number
from views.rendering import is_partial, redirect_to, varies_with_htmx

NAME = "<string(maxlength=40):name>"
VERSION = f"<{ID}:version>"
MAX_ROWS, MAX_FIELDS, MAX_TEXT = 400, 20, 2000
STATE_TEXT = ("name", "label", "team", "sla_hours", "step", "tone", "notice", "guidance")
TRANSITION_TEXT = ("trigger", "source", "dest", "label")
FIELD_TEXT = ("name", "type", "choices", "label")
ROW = re.compile(r"(states|transitions)-(\d{1,3})-")
FIELD_ROW = re.compile(r"transitions-(\d{1,3})-fields-(\d{1,2})-")
ACTION = re.compile(r"(state|transition)(?:-(\d{1,3}))?(?:-field(?:-(\d{1,2}))?)?")
STALE = "Someone else saved this draft first — reload to see their version. Nothing was saved."
# Where a validation message points (workflows/validation.py words them this way).
AT_STATE_INDEX = re.compile(r"states\[(\d+)\]")
AT_STATE = re.compile(r"state (\w+)[ :]")
AT_TRANSITION_INDEX = re.compile(r"transitions\[(\d+)\]")
AT_TRANSITION = re.compile(r"transition '?(#?\w+)'?[ :]")


@dataclass
class Draft:
    """The editor's rows as typed (strings, lists and flags), and the definition they make."""

    initial: str = ""
    states: list[dict[str, Any]] = field(default_factory=list)
    transitions: list[dict[str, Any]] = field(default_factory=list)

    def definition(self, name: str) -> tuple[dict[str, Any], list[int], list[int]]:
        """The definition, and the row of each of its states and transitions."""
        states, state_rows, transitions, transition_rows = [], [], [], []
        for n, row in enumerate(self.states):
            if any(row[k].strip() for k in STATE_TEXT) or row["terminal"]:
                states.append(_state(row))
                state_rows.append(n)
        for n, row in enumerate(self.transitions):
            if _typed_transition(row):
                transitions.append(_transition(row))
                transition_rows.append(n)
        definition = {
            "name": name,
            "initial": self.initial,
            "states": states,
            "transitions": transitions,
        }
        return definition, state_rows, transition_rows


def _typed_transition(row: dict[str, Any]) -> bool:
    lists = ("roles", "guards", "effects", "fields")
    return any(row[k].strip() for k in TRANSITION_TEXT) or any(row[k] for k in lists)


def _loose(text: str) -> Any:
    """A typed value that may be a JSON object (a team or guidance per disposition)."""
    if text.startswith("{"):
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


def _number(text: str) -> Any:
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        return text  # the schema says what is wrong with it
    return int(value) if value.is_integer() else value


def _state(row: dict[str, Any]) -> dict[str, Any]:
    state: dict[str, Any] = {
        "name": row["name"].strip(),
        "label": row["label"],
        "team": _loose(row["team"]) if row["team"] else None,
        "sla_hours": _number(row["sla_hours"].strip()),
        "terminal": row["terminal"],
    }
    for key in ("tone", "step", "notice"):
        if row[key]:
            state[key] = row[key]
    if row["guidance"]:
        state["guidance"] = _loose(row["guidance"])
    return state


def _words(text: str) -> list[str]:
    return [word for word in re.split(r"[\s,]+", text) if word]


def _transition(row: dict[str, Any]) -> dict[str, Any]:
    transition: dict[str, Any] = {
        "trigger": row["trigger"].strip(),
        "source": _words(row["source"]),
        "dest": row["dest"],
        "roles": row["roles"],
    }
    if row["label"]:
        transition["label"] = row["label"]
    if row["confirm"]:
        transition["confirm"] = True
    fields = []
    for spec in row["fields"]:
        if not any(spec[k].strip() for k in FIELD_TEXT if k != "type"):
            continue
        made: dict[str, Any] = {
            "name": spec["name"].strip(),
            "type": spec["type"],
            "required": spec["required"],
        }
        if spec["choices"].strip():
            made["choices"] = [c.strip() for c in spec["choices"].split(",") if c.strip()]
        if spec["label"]:
            made["label"] = spec["label"]
        fields.append(made)
    for key, value in (("fields", fields), ("guards", row["guards"]), ("effects", row["effects"])):
        if value:
            transition[key] = value
    return transition


def _shown(value: Any) -> str:
    """A definition's value as the form's text input shows it."""
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def _listed(value: Any) -> str:
    return ", ".join(str(v) for v in value) if isinstance(value, list) else _shown(value)


def _objects(items: Any) -> list[dict[str, Any]]:
    """A definition's list as objects, one per item (anything else shows as a blank row, so
    the rows keep the definition's indices)."""
    if not isinstance(items, list):
        return []
    return [item if isinstance(item, dict) else {} for item in items]


def draft_of(definition: Any) -> Draft:
    """The editor's rows for a stored definition."""
    data = definition if isinstance(definition, dict) else {}
    draft = Draft(initial=_shown(data.get("initial")))
    for state in _objects(data.get("states")):
        row: dict[str, Any] = {key: _shown(state.get(key)) for key in STATE_TEXT}
        row["terminal"] = state.get("terminal") is True
        draft.states.append(row)
    for transition in _objects(data.get("transitions")):
        row = {key: _shown(transition.get(key)) for key in ("trigger", "dest", "label")}
        row["source"] = _listed(transition.get("source"))
        row["confirm"] = transition.get("confirm") is True
        for key in ("roles", "guards", "effects"):
            value = transition.get(key)
            row[key] = [str(v) for v in value] if isinstance(value, list) else []
        row["fields"] = [
            {
                "name": _shown(spec.get("name")),
                "type": _shown(spec.get("type")),
                "required": spec.get("required") is True,
                "choices": _listed(spec.get("choices")),
                "label": _shown(spec.get("label")),
            }
            for spec in _objects(transition.get("fields"))
        ]
        draft.transitions.append(row)
    return draft


def _typed(key: str) -> str:
    return (request.form.get(key) or "")[:MAX_TEXT]


def _read_form() -> Draft:
    """The rows the editor's form sent, renumbered from 0 in the order they were shown."""
    found: dict[str, set[int]] = {"states": set(), "transitions": set()}
    fields: dict[int, set[int]] = {}
    for key in request.form:
        if match := ROW.match(key):
            found[match.group(1)].add(int(match.group(2)))
        if match := FIELD_ROW.match(key):
            fields.setdefault(int(match.group(1)), set()).add(int(match.group(2)))
    draft = Draft(initial=_typed("initial").strip())
    for n in sorted(found["states"])[:MAX_ROWS]:
        at = f"states-{n}-"
        row: dict[str, Any] = {key: _typed(at + key) for key in STATE_TEXT}
        row["terminal"] = bool(request.form.get(at + "terminal"))
        draft.states.append(row)
    for n in sorted(found["transitions"])[:MAX_ROWS]:
        at = f"transitions-{n}-"
        row = {key: _typed(at + key) for key in TRANSITION_TEXT}
        row["confirm"] = bool(request.form.get(at + "confirm"))
        for key in ("roles", "guards", "effects"):
            row[key] = _in_order(request.form.getlist(at + key)[:40], _typed(f"{at}{key}-order"))
        row["fields"] = []
        for m in sorted(fields.get(n, ()))[:MAX_FIELDS]:
            spec: dict[str, Any] = {k: _typed(f"{at}fields-{m}-{k}") for k in FIELD_TEXT}
            spec["required"] = bool(request.form.get(f"{at}fields-{m}-required"))
            row["fields"].append(spec)
        draft.transitions.append(row)
    return draft


def _in_order(chosen: list[str], order: str) -> list[str]:
    """The boxes ticked, in the order the definition listed them (`order`, a hidden input:
    effects are performed in that order), new ones after them."""
    before = order.split(",")
    rank = {name: i for i, name in enumerate(before)}
    ticked = list(dict.fromkeys(v[:60] for v in chosen))
    return sorted(ticked, key=lambda name: rank.get(name, len(before)))


def _apply(draft: Draft, add: str, remove: str) -> None:
    """An add or remove button's doing: `add_row=state`, `add_row=transition`,
    `add_row=transition-2-field`, `remove_row=state-3`, `remove_row=transition-2-field-1`.
    (Not `add`/`remove`: a control named `remove` hides the form's own `remove()` method,
    which htmx calls when it swaps the form.)"""
    if match := ACTION.fullmatch(add):
        kind, n = match.group(1), match.group(2)
        if kind == "state" and n is None and len(draft.states) < MAX_ROWS:
            draft.states.append(dict.fromkeys(STATE_TEXT, "") | {"terminal": False})
        elif kind == "transition" and n is None and len(draft.transitions) < MAX_ROWS:
            draft.transitions.append(_blank_transition())
        elif kind == "transition" and n is not None and int(n) < len(draft.transitions):
            specs = draft.transitions[int(n)]["fields"]
            if len(specs) < MAX_FIELDS:
                specs.append(_blank_field())
    if match := ACTION.fullmatch(remove):
        kind, n, m = match.group(1), match.group(2), match.group(3)
        rows = draft.states if kind == "state" else draft.transitions
        field_of_a_transition = kind == "transition" and "-field" in remove
        if n is None or int(n) >= len(rows) or ("-field" in remove and not field_of_a_transition):
            return  # only transitions have fields
        if not field_of_a_transition:
            del rows[int(n)]
        elif m is not None and int(m) < len(rows[int(n)]["fields"]):
            del rows[int(n)]["fields"][int(m)]


def _blank_transition() -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(TRANSITION_TEXT, "")
    return row | {"confirm": False, "roles": [], "guards": [], "effects": [], "fields": []}


def _blank_field() -> dict[str, Any]:
    return {"name": "", "type": "string", "required": False, "choices": "", "label": ""}


@dataclass
class Placed:
    """Problems by where they show: at the top, or beside a state's or a transition's row."""

    top: list[str] = field(default_factory=list)
    states: dict[int, list[str]] = field(default_factory=dict)
    transitions: dict[int, list[str]] = field(default_factory=dict)


def place_problems(
    problems: list[str], draft: Draft, state_rows: list[int], transition_rows: list[int]
) -> Placed:
    """Each problem beside the row its words name ("states[3]", "state X", "transitions[2]",
    "transition t": every row of that trigger), the rest at the top."""
    placed = Placed()
    by_name: dict[str, int] = {}
    for n, row in enumerate(draft.states):
        by_name.setdefault(row["name"].strip(), n)
    for problem in problems:
        rows: list[int] = []
        target = placed.states
        if match := AT_STATE_INDEX.match(problem):
            index = int(match.group(1))
            rows = [state_rows[index]] if index < len(state_rows) else []
        elif (match := AT_STATE.match(problem)) and match.group(1) in by_name:
            rows = [by_name[match.group(1)]]
        elif match := AT_TRANSITION_INDEX.match(problem):
            index, target = int(match.group(1)), placed.transitions
            rows = [transition_rows[index]] if index < len(transition_rows) else []
        elif match := AT_TRANSITION.match(problem):
            trigger, target = match.group(1), placed.transitions
            number = whole_number(trigger[1:], digits=4) if trigger.startswith("#") else None
            if number is not None and number < len(transition_rows):
                rows = [transition_rows[number]]
            else:
                rows = [
                    n
                    for n, row in enumerate(draft.transitions)
                    if row["trigger"].strip() == trigger
                ]
        for n in rows:
            target.setdefault(n, []).append(problem)
        if not rows:
            placed.top.append(problem)
    return placed


# Pages ----------------------------------------------------------------------------------


@dataclass
class Submitted:
    """A definition and the rows showing it: `state_rows[i]` is the row of its state i."""

    draft: Draft
    definition: Any
    state_rows: list[int]
    transition_rows: list[int]
    raw: str | None = None  # the raw JSON form's text, when that form sent it
    unreadable: list[str] = field(default_factory=list)


def _as_stored(definition: Any, raw: str | None = None) -> Submitted:
    """A whole definition (stored, or typed as JSON): one row per item, same indices."""
    draft = draft_of(definition)
    states, transitions = range(len(draft.states)), range(len(draft.transitions))
    return Submitted(draft, definition, list(states), list(transitions), raw)


def _submitted(name: str) -> Submitted:
    """What the editor's form (rows, after an add or remove button) or the raw JSON form
    (`raw`, saved as typed) sent."""
    if "raw" in request.form:
        raw = request.form.get("raw", "")[: 512 * 1024]
        try:
            loaded = json.loads(raw)
        except (ValueError, RecursionError) as error:
            return Submitted(Draft(), {}, [], [], raw, [f"the JSON is not valid: {error}"])
        if unreadable := definition_shape_problems(loaded):
            return Submitted(Draft(), {}, [], [], raw, unreadable)
        return _as_stored(loaded, raw)
    draft = _read_form()
    _apply(draft, request.form.get("add_row", "")[:40], request.form.get("remove_row", "")[:40])
    definition, state_rows, transition_rows = draft.definition(name)
    return Submitted(draft, definition, state_rows, transition_rows)


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
    return _render(name, info, _as_stored(info.definition), revision=str(info.revision))


@admin_pages.post(f"/workflows/{NAME}/versions/{VERSION}/validate")
def workflow_validate(name: str, version: int) -> Response:
    """The problems of what is typed: for htmx the problems list (each row's own problems
    swapped beside it out of band), without JavaScript the whole editor."""
    info = get_version(db_session(), name, version)
    sub = _submitted(name)
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
    sub = _submitted(name)
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
            return _render(name, info, _as_stored(info.definition), revision=str(info.revision),
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
