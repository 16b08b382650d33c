"""The workflow definition format: what a definition is once read, and reading it.

A definition is JSON an admin may edit:

    {"name": "rma", "initial": "SUBMITTED",
     "states": [{"name", "label", "team", "sla_hours", "terminal"}],
     "transitions": [{"trigger", "source": [...], "dest", "roles": [...],
                      "fields": [{"name", "type", "required", "choices"?, "label"?}],
                      "guards": [...], "effects": [...], "label", "confirm"?}]}

`team` is a team name, null (nobody waits: the record is with the system or finished), or
a mapping from one subject attribute to teams, e.g. {"disposition": {"REFUND": "finance"}}.
`parse_definition` checks a definition (`workflows.validation` lists every problem as a
sentence) and raises `DefinitionError` with them, so an admin sees all that is wrong at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from workflows.core_rules import CoreRules
from workflows.validation import validate_definition


class DefinitionError(ValueError):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class FieldSpec:
    name: str
    type: str
    required: bool
    choices: tuple[str, ...] = ()
    label: str = ""
    max_length: int = 500


@dataclass(frozen=True)
class StateSpec:
    name: str
    label: str
    team: str | None
    team_by: tuple[str, dict[str, str]] | None
    sla_hours: float | None
    terminal: bool
    tone: str = "info"
    step: str | None = None
    notice: str = ""
    guidance: str = ""
    guidance_by: tuple[str, dict[str, str]] | None = None

    def guidance_for(self, subject: Mapping[str, Any]) -> str:
        """What the customer's page says in this state for a record like `subject`."""
        if self.guidance_by is not None:
            key, mapping = self.guidance_by
            return mapping.get(str(subject.get(key)), self.guidance)
        return self.guidance


@dataclass(frozen=True)
class TransitionSpec:
    trigger: str
    source: tuple[str, ...]
    dest: str
    roles: tuple[str, ...]
    fields: tuple[FieldSpec, ...] = ()
    guards: tuple[str, ...] = ()
    effects: tuple[str, ...] = ()
    label: str = ""
    confirm: bool = False


@dataclass(frozen=True)
class Definition:
    name: str
    initial: str
    states: tuple[StateSpec, ...]
    transitions: tuple[TransitionSpec, ...]

    def state(self, name: str) -> StateSpec:
        for state in self.states:
            if state.name == name:
                return state
        raise KeyError(name)

    @property
    def state_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.states)

    @property
    def steps(self) -> tuple[str, ...]:
        """The customer's milestones, in the order their first state is listed."""
        return tuple(dict.fromkeys(s.step for s in self.states if s.step))


def parse_definition(
    data: Any,
    *,
    required_states: Iterable[str] = (),
    required_triggers: Iterable[str] = (),
    core: CoreRules | None = None,
) -> Definition:
    """Check `data` and build a Definition; raises DefinitionError listing every problem."""
    problems = validate_definition(
        data, required_states=required_states, required_triggers=required_triggers, core=core
    )
    if problems:
        raise DefinitionError(problems)
    return _build(data)


def _by_attribute(value: Any) -> tuple[Any, tuple[str, dict[str, str]] | None]:
    """A plain value, or (None, (attribute, {value: result})) for `{attribute: {...}}`."""
    if isinstance(value, Mapping):
        key, mapping = next(iter(value.items()))
        return None, (key, dict(mapping))
    return value, None


def _build(data: Mapping[str, Any]) -> Definition:
    states = []
    for s in data["states"]:
        team, team_by = _by_attribute(s.get("team"))
        guidance, guidance_by = _by_attribute(s.get("guidance", ""))
        terminal = bool(s.get("terminal", False))
        states.append(
            StateSpec(
                name=s["name"],
                label=s.get("label") or s["name"].replace("_", " ").title(),
                team=team,
                team_by=team_by,
                sla_hours=s.get("sla_hours"),
                terminal=terminal,
                tone=s.get("tone") or ("neutral" if terminal else "info"),
                step=s.get("step"),
                notice=s.get("notice", ""),
                guidance=guidance or "",
                guidance_by=guidance_by,
            )
        )
    transitions = []
    for t in data["transitions"]:
        source = t["source"]
        transitions.append(
            TransitionSpec(
                trigger=t["trigger"],
                source=tuple([source] if isinstance(source, str) else source),
                dest=t["dest"],
                roles=tuple(t["roles"]),
                fields=tuple(
                    FieldSpec(
                        name=f["name"],
                        type=f["type"],
                        required=bool(f.get("required", False)),
                        choices=tuple(f.get("choices") or ()),
                        label=f.get("label") or f["name"].replace("_", " ").capitalize(),
                    )
                    for f in t.get("fields", [])
                ),
                guards=tuple(t.get("guards", [])),
                effects=tuple(t.get("effects", [])),
                label=t.get("label") or t["trigger"].replace("_", " ").capitalize(),
                confirm=bool(t.get("confirm", False)),
            )
        )
    return Definition(
        name=data["name"],
        initial=data["initial"],
        states=tuple(states),
        transitions=tuple(transitions),
    )
