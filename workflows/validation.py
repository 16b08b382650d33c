"""Checking a workflow definition (`workflows.schema` describes the format): every
problem as a sentence an admin can act on, and the limits that keep a hostile or broken
definition from costing anything to look at. With a workflow's `CoreRules`
(`workflows.core_rules`), also what its services rely on."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any, TypeGuard

from workflows.core_rules import CoreRules, core_problems
from workflows.registry import EFFECTS, FIELD_TYPES, GUARDS, ROLES, TEAM_KEYS, TEAMS

NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
STATE_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,39}$")
MAX_STATES = 100
MAX_TRANSITIONS = 400
MAX_BYTES = 256 * 1024  # the definition serialised as JSON
# The format nests objects and lists at most 6 deep (definition > transitions > transition >
# fields > field > choices); anything deeper is not a definition, whatever it holds.
MAX_DEPTH = 6
MAX_LABEL = 200
MAX_SLA_HOURS = 24 * 366 * 10
DEFINITION_KEYS = frozenset({"name", "initial", "states", "transitions"})
# step, tone, notice and guidance are presentation hints whose contents the pages check.
STATE_KEYS = frozenset(
    {"name", "label", "team", "sla_hours", "terminal", "step", "tone", "notice", "guidance"}
)
TRANSITION_KEYS = frozenset(
    {"trigger", "source", "dest", "roles", "fields", "guards", "effects", "label", "confirm"}
)
FIELD_KEYS = frozenset({"name", "type", "required", "choices", "label"})
# How a state shows to people (all optional): its badge's tone, the customer's milestone on
# the return's progress bar (`step`), the words of the customer's notice ("is being
# reviewed"), and what the return's page tells the customer to expect (`guidance`: text, or
# text per value of an attribute like `team`; `{amount}` and `{due}` are filled in).
TONES = ("wait", "info", "ok", "bad", "neutral")
MAX_STEP = 40
MAX_NOTICE = 200
MAX_GUIDANCE = 500


def _member(value: Any, allowed: Iterable[str]) -> TypeGuard[str]:
    """`value in allowed`, safe for the lists and objects malformed JSON brings."""
    return isinstance(value, str) and value in allowed


def validate_definition(
    data: Any,
    *,
    required_states: Iterable[str] = (),
    required_triggers: Iterable[str] = (),
    core: CoreRules | None = None,
) -> list[str]:
    """Every problem with `data` as a sentence; an empty list means it may be published.
    With `core`, also what that workflow's services rely on (`CoreRules`)."""
    if not isinstance(data, Mapping):
        return ["the definition must be a JSON object"]
    hostile = shape_problems(data)
    if hostile:  # too deep or too big to look into any further
        return hostile
    problems: list[str] = []
    if core is not None:
        required_states = (*required_states, *core.states)
        required_triggers = (*required_triggers, *core.triggers)
        if data.get("name") != core.name:
            problems.append(f"name must be {core.name!r}")
    _check_keys(data, problems)
    name = data.get("name")
    if not isinstance(name, str) or not NAME_RE.match(name):
        problems.append("name must be lower_snake_case (1-40 characters)")
    states = data.get("states")
    transitions = data.get("transitions")
    if not isinstance(states, list) or not states:
        problems.append("states must be a non-empty list")
        states = []
    if not isinstance(transitions, list):
        problems.append("transitions must be a list")
        transitions = []
    if len(states) > MAX_STATES:
        problems.append(f"at most {MAX_STATES} states")
    if len(transitions) > MAX_TRANSITIONS:
        problems.append(f"at most {MAX_TRANSITIONS} transitions")
    names = _check_states(states, problems)
    terminals = {
        s["name"]
        for s in states
        if isinstance(s, Mapping) and s.get("terminal") is True and _member(s.get("name"), names)
    }
    initial = data.get("initial")
    if not _member(initial, names):
        problems.append(f"initial state {initial!r} is not one of the states")
    if names and not terminals:
        problems.append("at least one state must be terminal")
    edges = _check_transitions(transitions, names, terminals, problems)
    for missing in sorted(set(required_states) - names):
        problems.append(f"core state {missing} must be kept")
    triggers = {
        t["trigger"]
        for t in transitions
        if isinstance(t, Mapping) and isinstance(t.get("trigger"), str)
    }
    for missing in sorted(set(required_triggers) - triggers):
        problems.append(f"core trigger {missing} must be kept")
    if _member(initial, names):
        _check_graph(initial, names, terminals, edges, problems)
    if core is not None:
        core_problems(core, states, transitions, terminals, problems)
    return problems


def shape_problems(data: Mapping[str, Any]) -> list[str]:
    """Nesting and size, checked without recursion before anything walks the data."""
    todo: list[tuple[Any, int]] = [(data, 1)]
    while todo:
        value, depth = todo.pop()
        if depth > MAX_DEPTH:
            return [f"the definition nests objects and lists more than {MAX_DEPTH} deep"]
        children = value.values() if isinstance(value, Mapping) else value
        todo.extend((c, depth + 1) for c in children if isinstance(c, Mapping | list))
    try:
        size = len(json.dumps(data).encode("utf-8"))
    except (TypeError, ValueError):
        return ["the definition must hold only JSON values"]
    if size > MAX_BYTES:
        return [f"the definition is larger than {MAX_BYTES // 1024} KB"]
    return []


def _check_keys(data: Mapping[str, Any], problems: list[str]) -> None:
    """Unknown keys at every level, and labels: text of at most MAX_LABEL characters."""
    _unknown(data, DEFINITION_KEYS, "the definition", problems)
    for what, items, allowed in (
        ("states", data.get("states"), STATE_KEYS),
        ("transitions", data.get("transitions"), TRANSITION_KEYS),
    ):
        for i, item in enumerate(items if isinstance(items, list) else []):
            if not isinstance(item, Mapping):
                continue
            where = f"{what}[{i}]"
            _unknown(item, allowed, where, problems)
            _check_label(item.get("label"), where, problems, typed=False)
            sla: Any = item.get("sla_hours") if what == "states" else None
            # JSON lets NaN and 1e308 through; a due time must be a real moment.
            number = isinstance(sla, int | float) and not isinstance(sla, bool)
            if number and not sla <= MAX_SLA_HOURS:  # NaN compares false
                problems.append(
                    f"{where}: sla_hours must be a finite number, at most {MAX_SLA_HOURS}"
                )
            fields = item.get("fields") if what == "transitions" else None
            for j, spec in enumerate(fields if isinstance(fields, list) else []):
                if isinstance(spec, Mapping):
                    _unknown(spec, FIELD_KEYS, f"{where}.fields[{j}]", problems)
                    _check_label(spec.get("label"), f"{where}.fields[{j}]", problems)


def _unknown(
    item: Mapping[Any, Any], allowed: frozenset[str], where: str, problems: list[str]
) -> None:
    unknown = sorted(repr(k)[:60] for k in item if k not in allowed)
    if unknown:
        problems.append(
            f"{where} has unknown keys {', '.join(unknown[:10])} "
            f"(allowed: {', '.join(sorted(allowed))})"
        )


def _check_label(label: Any, where: str, problems: list[str], *, typed: bool = True) -> None:
    """`typed`: also say a label that is not text is wrong (states and transitions say so
    where their other attributes are checked)."""
    if label is None:
        return
    if not isinstance(label, str):
        if typed:
            problems.append(f"{where}.label must be text")
    elif len(label) > MAX_LABEL:
        problems.append(f"{where}.label must have at most {MAX_LABEL} characters")


def _check_states(states: list[Any], problems: list[str]) -> set[str]:
    names: set[str] = set()
    for i, state in enumerate(states):
        where = f"states[{i}]"
        if not isinstance(state, Mapping):
            problems.append(f"{where} must be an object")
            continue
        name = state.get("name")
        if not isinstance(name, str) or not STATE_RE.match(name):
            problems.append(f"{where}.name must be a word of letters, digits and _")
            continue
        where = f"state {name}"
        if name in names:
            problems.append(f"{where} is defined twice")
        names.add(name)
        if not isinstance(state.get("label", ""), str):
            problems.append(f"{where}: label must be text")
        _check_team(state.get("team"), where, problems)
        sla = state.get("sla_hours")
        if sla is not None and (
            isinstance(sla, bool) or not isinstance(sla, int | float) or sla < 0
        ):
            problems.append(f"{where}: sla_hours must be a number of hours >= 0, or null")
        if not isinstance(state.get("terminal", False), bool):
            problems.append(f"{where}: terminal must be true or false")
        _check_presentation(state, where, problems)
    return names


def _short_text(value: Any, limit: int) -> bool:
    return isinstance(value, str) and 0 < len(value) <= limit


def _check_presentation(state: Mapping[str, Any], where: str, problems: list[str]) -> None:
    """The optional keys that say how a state shows to people (see TONES above)."""
    if "tone" in state and not _member(state["tone"], TONES):
        problems.append(f"{where}: tone must be one of {', '.join(TONES)}")
    if "step" in state and state["step"] is not None and not _short_text(state["step"], MAX_STEP):
        problems.append(f"{where}: step must be text of 1-{MAX_STEP} characters, or null")
    if "notice" in state and not _short_text(state["notice"], MAX_NOTICE):
        problems.append(f"{where}: notice must be text of 1-{MAX_NOTICE} characters")
    guidance = state.get("guidance", "-")
    if _short_text(guidance, MAX_GUIDANCE):
        return
    if isinstance(guidance, Mapping) and len(guidance) == 1:
        key, mapping = next(iter(guidance.items()))
        if (
            key in TEAM_KEYS
            and isinstance(mapping, Mapping)
            and mapping
            and all(isinstance(k, str) and _short_text(v, MAX_GUIDANCE) for k, v in mapping.items())
        ):
            return
    problems.append(
        f"{where}: guidance must be text of 1-{MAX_GUIDANCE} characters, or "
        f"{{attribute: {{value: text}}}} with attribute in {', '.join(sorted(TEAM_KEYS))}"
    )


def _check_team(team: Any, where: str, problems: list[str]) -> None:
    if team is None or (isinstance(team, str) and team in TEAMS):
        return
    if isinstance(team, Mapping) and len(team) == 1:
        key, mapping = next(iter(team.items()))
        well_formed = key in TEAM_KEYS and isinstance(mapping, Mapping) and bool(mapping)
        if well_formed and all(
            isinstance(k, str) and _member(v, TEAMS) for k, v in mapping.items()
        ):
            return
    problems.append(
        f"{where}: team must be one of {', '.join(sorted(TEAMS))}, null, or "
        f"{{attribute: {{value: team}}}} with attribute in {', '.join(sorted(TEAM_KEYS))}"
    )


def _check_transitions(
    transitions: list[Any], names: set[str], terminals: set[str], problems: list[str]
) -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {n: set() for n in names}
    seen: dict[tuple[str, str, tuple[str, ...]], int] = {}
    for i, t in enumerate(transitions):
        if not isinstance(t, Mapping):
            problems.append(f"transitions[{i}] must be an object")
            continue
        trigger = t.get("trigger")
        if not isinstance(trigger, str) or not NAME_RE.match(trigger):
            problems.append(f"transitions[{i}].trigger must be lower_snake_case")
            trigger = f"#{i}"
        where = f"transition {trigger}"
        sources = t.get("source")
        if isinstance(sources, str):
            sources = [sources]
        if not isinstance(sources, list) or not sources:
            problems.append(f"{where}: source must be a non-empty list of states")
            sources = []
        dest = t.get("dest")
        if not _member(dest, names):
            problems.append(f"{where}: dest {dest!r} is not a state")
        for source in sources:
            if not _member(source, names):
                problems.append(f"{where}: source {source!r} is not a state")
            elif source in terminals:
                problems.append(f"{where}: terminal state {source} cannot have transitions out")
            elif _member(dest, names):
                edges[source].add(dest)
        _check_names(t.get("roles"), ROLES, f"{where}: roles", problems, required=True)
        _check_names(t.get("guards", []), GUARDS.keys(), f"{where}: guards", problems)
        _check_names(t.get("effects", []), EFFECTS.keys(), f"{where}: effects", problems)
        _check_fields(t.get("fields", []), where, problems)
        if not isinstance(t.get("label", ""), str) or not isinstance(t.get("confirm", False), bool):
            problems.append(f"{where}: label must be text and confirm true or false")
        guards = t.get("guards", [])
        # A guard named twice tells nothing apart: variants are compared by their guard sets.
        key_guards = (
            tuple(sorted({g for g in guards if isinstance(g, str)}))
            if isinstance(guards, list)
            else ()
        )
        for source in sources:
            key = (trigger, str(source), key_guards)
            if key in seen:
                problems.append(
                    f"{where}: from {source} it is ambiguous with transitions[{seen[key]}] "
                    "(same trigger, same guards)"
                )
            seen[key] = i
    return edges


def _check_names(
    value: Any, allowed: Iterable[str], where: str, problems: list[str], *, required: bool = False
) -> None:
    if not isinstance(value, list) or (required and not value):
        problems.append(f"{where} must be a {'non-empty ' if required else ''}list")
        return
    allowed = set(allowed)
    for item in value:
        if not _member(item, allowed):
            problems.append(
                f"{where}: {item!r} is not known (allowed: {', '.join(sorted(allowed))})"
            )


def _check_fields(fields: Any, where: str, problems: list[str]) -> None:
    if not isinstance(fields, list):
        problems.append(f"{where}: fields must be a list")
        return
    names: set[str] = set()
    for j, spec in enumerate(fields):
        if not isinstance(spec, Mapping):
            problems.append(f"{where}: fields[{j}] must be an object")
            continue
        name = spec.get("name")
        if not isinstance(name, str) or not NAME_RE.match(name) or name in {"trigger", "version"}:
            problems.append(
                f"{where}: fields[{j}].name must be lower_snake_case (not trigger/version)"
            )
            continue
        if name in names:
            problems.append(f"{where}: field {name} is listed twice")
        names.add(name)
        kind = spec.get("type")
        if not _member(kind, FIELD_TYPES):
            problems.append(f"{where}: field {name} has unknown type {kind!r}")
        if not isinstance(spec.get("required", False), bool):
            problems.append(f"{where}: field {name}: required must be true or false")
        choices = spec.get("choices")
        if kind == "choice":
            if (
                not isinstance(choices, list)
                or not choices
                or not all(isinstance(c, str) for c in choices)
            ):
                problems.append(f"{where}: field {name} needs a non-empty list of text choices")
        elif choices is not None:
            problems.append(f"{where}: field {name}: only choice fields have choices")


def _check_graph(
    initial: str,
    names: set[str],
    terminals: set[str],
    edges: dict[str, set[str]],
    problems: list[str],
) -> None:
    reachable = _closure({initial}, edges)
    for name in sorted(names - reachable):
        problems.append(f"state {name} cannot be reached from {initial}")
    reverse: dict[str, set[str]] = {n: set() for n in names}
    for source, dests in edges.items():
        for dest in dests:
            reverse[dest].add(source)
    can_finish = _closure(set(terminals), reverse)
    for name in sorted(names - terminals):
        if not edges[name]:
            problems.append(f"state {name} is a dead end: not terminal and no transition out")
        elif name not in can_finish:
            problems.append(f"state {name} can never reach a terminal state")


def _closure(start: set[str], edges: Mapping[str, set[str]]) -> set[str]:
    seen, todo = set(start), list(start)
    while todo:
        for nxt in edges.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen
