"""The draft editor's form (views/workflows/editor.py): a definition as rows of text an
admin edits (`draft_of`), the rows read back into a definition (`submitted`, blank rows
kept on screen but left out), rows added and removed by a server round trip, and each
problem placed beside the row that causes it (`place_problems`).

Form rows are numbered `states-N-attr`, `transitions-N-attr` and
`transitions-N-fields-M-attr`; every render numbers them from 0 again, so `row_of` maps a
definition index to its row.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from flask import request

from app.services.workflows import definition_shape_problems
from views.parsing import whole_number

MAX_ROWS, MAX_FIELDS, MAX_TEXT = 400, 20, 2000
STATE_TEXT = ("name", "label", "team", "sla_hours", "step", "tone", "notice", "guidance")
TRANSITION_TEXT = ("trigger", "source", "dest", "label")
FIELD_TEXT = ("name", "type", "choices", "label")
ROW = re.compile(r"(states|transitions)-(\d{1,3})-")
FIELD_ROW = re.compile(r"transitions-(\d{1,3})-fields-(\d{1,2})-")
ACTION = re.compile(r"(state|transition)(?:-(\d{1,3}))?(?:-field(?:-(\d{1,2}))?)?")
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


def as_stored(definition: Any, raw: str | None = None) -> Submitted:
    """A whole definition (stored, or typed as JSON): one row per item, same indices."""
    draft = draft_of(definition)
    states, transitions = range(len(draft.states)), range(len(draft.transitions))
    return Submitted(draft, definition, list(states), list(transitions), raw)


def submitted(name: str) -> Submitted:
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
        return as_stored(loaded, raw)
    draft = _read_form()
    _apply(draft, request.form.get("add_row", "")[:40], request.form.get("remove_row", "")[:40])
    definition, state_rows, transition_rows = draft.definition(name)
    return Submitted(draft, definition, state_rows, transition_rows)
