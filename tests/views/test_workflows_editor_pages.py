"""The draft editor of the RMA workflow (issue 11): a new draft, rows added and filled in
through the rendered form, problems beside their rows as the admin types, saving with the
revision (409 keeps the input), the raw JSON form, publishing after a confirmation page,
and rolling back by publishing a copy of an earlier version."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from typing import Any

import pytest

from app.services.workflows import get_version
from tests.builders import make_user
from tests.conftest import sign_in
from tests.views.conftest import HX, text
from tests.views.returns_helpers import open_return
from workflows.definitions import load_shipped

BASE = "/admin/workflows/rma"


@pytest.fixture
def token(client, admin):
    return sign_in(client, admin)


class FormFields(HTMLParser):
    """What a browser would send for the form `form_id`: text inputs, checked boxes, the
    selected options (no submit buttons)."""

    def __init__(self, form_id: str) -> None:
        super().__init__()
        self.form_id, self.inside = form_id, False
        self.fields: list[tuple[str, str]] = []
        self.select: str | None = None
        self.textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.inside = a.get("id") == self.form_id
        if not self.inside or ("name" not in a and tag != "option"):
            return
        if tag == "input" and a.get("type") in ("text", "hidden", None):
            self.fields.append((a["name"], a.get("value", "")))
        elif tag == "input" and a.get("type") == "checkbox" and "checked" in a:
            self.fields.append((a["name"], a.get("value", "on")))
        elif tag == "select":
            self.select = a["name"]
        elif tag == "option" and self.select and "selected" in a:
            self.fields.append((self.select, a.get("value", "")))
        elif tag == "textarea":
            self.textarea = a["name"]
            self.fields.append((a["name"], ""))

    def handle_data(self, data: str) -> None:
        if self.textarea:
            self.fields[-1] = (self.textarea, self.fields[-1][1] + data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False
        elif tag == "select":
            self.select = None
        elif tag == "textarea":
            self.textarea = None


def form_of(html: str, form_id: str = "workflow-form") -> dict[str, Any]:
    parser = FormFields(form_id)
    parser.feed(html)
    fields: dict[str, Any] = {}
    for name, value in parser.fields:
        if name in fields:
            fields[name] = [*([fields[name]] if isinstance(fields[name], str) else fields[name])]
            fields[name].append(value)
        else:
            fields[name] = value
    assert "revision" in fields, html[:500]
    return fields


def new_draft(client, token, start: int | None = None) -> int:
    data = {"csrf_token": token, **({"from": str(start)} if start else {})}
    response = client.post(f"{BASE}/drafts/new", data=data)
    assert response.status_code == 302, text(response)[:500]
    match = re.fullmatch(rf"{BASE}/versions/(\d+)/edit", response.headers["Location"])
    assert match, response.headers["Location"]
    return int(match.group(1))


def editor(client, version: int) -> dict[str, Any]:
    page = client.get(f"{BASE}/versions/{version}/edit")
    assert page.status_code == 200, text(page)[:300]
    return form_of(text(page))


def press(client, version: int, form: dict[str, Any], **button: str) -> dict[str, Any]:
    """An add or remove button, as htmx sends it: the form comes back re-rendered."""
    response = client.post(f"{BASE}/versions/{version}", data={**form, **button}, headers=HX)
    assert response.status_code == 200, text(response)[:300]
    html = text(response)
    assert html.lstrip().startswith("<form"), "htmx gets the form only"
    return form_of(html)


def row_problems(html: str, kind: str, n: int) -> str:
    match = re.search(rf'id="{kind}-{n}-problems"[^>]*>(.*?)</div>', html, re.S)
    assert match, f"no problems slot for {kind} {n}"
    return match.group(1)


def test_it_adds_a_state_and_two_transitions_then_publishes_for_new_returns(
    app, client, session, admin, token
):
    version = new_draft(client, token)
    assert version == 2
    form = editor(client, version)
    assert form["states-11-name"] == "CANCELLED"
    assert "states-12-name" not in form

    form = press(client, version, form, add_row="state")
    form.update({"states-12-name": "AWAITING_INFO", "states-12-label": "Waiting for the customer",
                 "states-12-team": "support", "states-12-sla_hours": "72"})  # fmt: skip
    form = press(client, version, form, add_row="transition")
    form = press(client, version, form, add_row="transition")
    assert form["transitions-16-trigger"] == ""
    assert "transitions-18-trigger" not in form
    form.update({"transitions-16-trigger": "ask_info", "transitions-16-source": "VALIDATING",
                 "transitions-16-dest": "AWAITING_INFO", "transitions-16-roles": "support",
                 "transitions-17-trigger": "provide_info", "transitions-17-source": "AWAITING_INFO",
                 "transitions-17-dest": "VALIDATING", "transitions-17-roles": "owner"})  # fmt: skip
    form = press(client, version, form, add_row="transition-17-field")
    form.update({"transitions-17-fields-0-name": "answer", "transitions-17-fields-0-type": "text",
                 "transitions-17-fields-0-required": "1"})  # fmt: skip

    checked = client.post(f"{BASE}/versions/{version}/validate", data=form, headers=HX)
    assert checked.status_code == 200
    assert "No problems" in text(checked)
    assert 'id="states-12-problems" class="wf-row-problems" hx-swap-oob="true"' in text(checked)

    saved = client.post(f"{BASE}/versions/{version}", data=form)
    assert saved.status_code == 302, text(saved)[:2000]
    stored = get_version(session, "rma", version)
    assert stored.revision == 2
    added = stored.definition["states"][12]
    assert added == {"name": "AWAITING_INFO", "label": "Waiting for the customer",
                     "team": "support", "sla_hours": 72, "terminal": False}  # fmt: skip
    ask = stored.definition["transitions"][16]
    assert (ask["trigger"], ask["source"], ask["dest"], ask["roles"]) == (
        "ask_info", ["VALIDATING"], "AWAITING_INFO", ["support"])  # fmt: skip
    assert stored.definition["transitions"][17]["fields"] == [
        {"name": "answer", "type": "text", "required": True}
    ]
    # Everything not touched is kept as it was (labels, guidance per disposition, fields).
    shipped = load_shipped("rma")
    assert stored.definition["states"][:12] == shipped["states"]
    assert stored.definition["transitions"][:16] == shipped["transitions"]

    page = text(client.get(f"{BASE}/versions/{version}/edit"))
    assert "Changes against the published version 1" in page
    assert "AWAITING_INFO" in page
    assert "ask_info" in page
    assert "provide_info" in page

    in_flight = open_return(app, session, make_user(session, "customer"))
    confirm = text(client.get(f"{BASE}/versions/{version}/publish"))
    assert "New returns will start on version 2" in confirm
    assert "the 1 return in flight stays on version 1" in confirm
    published = client.post(f"{BASE}/versions/{version}/publish", data={"csrf_token": token})
    assert published.status_code == 302
    assert published.headers["Location"] == f"{BASE}/versions/{version}"
    assert get_version(session, "rma", version).status == "published"

    fresh = open_return(app, session, make_user(session, "customer"))
    assert fresh.workflow_version == 2
    session.refresh(in_flight)
    assert in_flight.workflow_version == 1


def test_a_broken_draft_shows_each_problem_beside_its_row(client, session, token):
    version = new_draft(client, token)
    form = editor(client, version)
    form["states-1-sla_hours"] = "-5"
    form["transitions-3-dest"] = ""
    form["initial"] = "NOWHERE"

    checked = text(client.post(f"{BASE}/versions/{version}/validate", data=form, headers=HX))
    assert "sla_hours must be a number" in row_problems(checked, "states", 1)
    assert "dest &#39;&#39; is not a state" in row_problems(checked, "transitions", 3)
    assert row_problems(checked, "states", 0).strip() == ""
    top = checked.split('id="states-0-problems"')[0]
    assert "initial state &#39;NOWHERE&#39; is not one of the states" in top

    saved = client.post(f"{BASE}/versions/{version}", data=form)
    assert saved.status_code == 422
    page = text(saved)
    assert "sla_hours must be a number" in row_problems(page, "states", 1)
    assert form_of(page)["states-1-sla_hours"] == "-5"  # the input is kept
    assert get_version(session, "rma", version).revision == 1

    plain = client.post(f"{BASE}/versions/{version}/validate", data=form)  # no JavaScript
    assert plain.status_code == 200
    assert "sla_hours must be a number" in row_problems(text(plain), "states", 1)


def test_a_second_save_with_the_same_revision_gets_409_and_keeps_its_input(client, session, token):
    version = new_draft(client, token)
    first, second = editor(client, version), editor(client, version)
    first["states-1-label"] = "First admin's label"
    second["states-1-label"] = "Second <admin>'s label"
    assert client.post(f"{BASE}/versions/{version}", data=first).status_code == 302

    late = client.post(f"{BASE}/versions/{version}", data=second)
    assert late.status_code == 409
    page = text(late)
    assert "someone else saved this draft first — reload to see their version" in page.lower()
    assert form_of(page)["states-1-label"] == "Second <admin>'s label"
    assert "Second &lt;admin&gt;&#39;s label" in page  # escaped, never markup
    assert get_version(session, "rma", version).definition["states"][1]["label"] == (
        "First admin's label"
    )


def test_rows_are_removed_and_a_page_without_javascript_comes_back_whole(client, token):
    version = new_draft(client, token)
    form = editor(client, version)
    page = client.post(f"{BASE}/versions/{version}", data={**form, "remove_row": "transition-0"})
    assert page.status_code == 200
    html = text(page)
    assert "<html" in html
    assert 'id="workflow-diff"' in html
    after = form_of(html)
    assert after["transitions-0-trigger"] == "approve"
    assert "transitions-15-trigger" not in after
    assert "Removed" in html  # the diff already counts the removed transition
    assert "core trigger validate must be kept" in html  # and the check runs at once


def test_the_raw_json_form_saves_the_definition_as_typed(client, session, token):
    version = new_draft(client, token)
    raw = form_of(text(client.get(f"{BASE}/versions/{version}/edit")), "workflow-raw-form")
    definition = json.loads(raw["raw"])
    assert definition == load_shipped("rma")
    definition["states"][1]["sla_hours"] = 12
    response = client.post(
        f"{BASE}/versions/{version}",
        data={"csrf_token": raw["csrf_token"], "revision": "1", "raw": json.dumps(definition)},
    )
    assert response.status_code == 302
    assert get_version(session, "rma", version).definition["states"][1]["sla_hours"] == 12

    broken = client.post(
        f"{BASE}/versions/{version}",
        data={"csrf_token": raw["csrf_token"], "revision": "2", "raw": '{"name": '},
    )
    assert broken.status_code == 422
    assert "the JSON is not valid" in text(broken)
    assert "{&#34;name&#34;: </textarea>" in text(broken)  # what they typed, kept


def test_rolling_back_publishes_a_copy_of_version_1_as_version_3(client, session, token):
    version = new_draft(client, token)
    form = editor(client, version)
    form["states-1-sla_hours"] = "12"
    assert client.post(f"{BASE}/versions/{version}", data=form).status_code == 302
    client.post(f"{BASE}/versions/{version}/publish", data={"csrf_token": token})
    assert get_version(session, "rma", 2).status == "published"

    assert "Version 1 (retired)" in text(client.get(f"{BASE}/drafts/new?from=1"))
    rollback = new_draft(client, token, start=1)
    assert rollback == 3
    assert client.post(f"{BASE}/versions/3/publish", data={"csrf_token": token}).status_code == 302
    assert get_version(session, "rma", 3).status == "published"
    assert get_version(session, "rma", 3).definition == get_version(session, "rma", 1).definition


def test_a_published_version_is_read_only(client, token):
    response = client.get(f"{BASE}/versions/1/edit")
    assert response.status_code == 302
    assert response.headers["Location"] == f"{BASE}/versions/1"
    form = {"csrf_token": token, "revision": "1"}
    saved = client.post(f"{BASE}/versions/1", data=form)
    assert saved.status_code == 302
    assert saved.headers["Location"] == f"{BASE}/versions/1"


def test_staff_may_not_edit_workflows(client, session):
    sign_in(client, make_user(session, "support"))
    assert client.get(f"{BASE}/drafts/new").status_code == 403
    assert client.get(f"{BASE}/versions/1/edit").status_code == 403


def test_odd_buttons_and_odd_triggers_are_answered_not_crashed_on(client, token):
    """A remove button naming a state's field, or a problem naming a trigger like `#x`, is
    what a hand-made request may send: the form comes back, nothing breaks."""
    version = new_draft(client, token)
    form = editor(client, version)
    kept = press(client, version, form, remove_row="state-0-field-0")
    assert kept["states-0-name"] == "SUBMITTED"
    assert kept["transitions-0-trigger"] == form["transitions-0-trigger"]
    kept = press(client, version, form, remove_row="transition-0-field")
    assert kept["transitions-0-trigger"] == form["transitions-0-trigger"]  # not the transition
    odd = {**form, "transitions-0-trigger": "#x", "transitions-0-effects": "queue_refund"}
    checked = client.post(f"{BASE}/versions/{version}/validate", data=odd, headers=HX)
    assert checked.status_code == 200
    assert "#x" in text(checked)


def test_raw_json_nested_too_deep_is_refused_with_a_problem(client, token):
    version = new_draft(client, token)
    form = editor(client, version)
    deep = "[" * 930 + "]" * 930
    sent = {"csrf_token": form["csrf_token"], "revision": form["revision"], "raw": deep}
    answer = client.post(f"{BASE}/versions/{version}/validate", data=sent)
    assert answer.status_code in (200, 422)
    assert "must be a JSON object" in text(answer)
    nested = json.dumps({"name": "rma", "states": [{"x": [[[[[[[[1]]]]]]]]}]})
    answer = client.post(f"{BASE}/versions/{version}", data={**sent, "raw": nested})
    assert answer.status_code == 422
    assert "nests objects and lists more than" in text(answer)
