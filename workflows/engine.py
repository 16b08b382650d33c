"""The engine: a `transitions` machine per (definition name, version), fired with full checks.

The machine is built once per version and cached; each firing attaches a throw-away model
whose initial state is the record's current state, triggers the event (guards are the
machine's conditions), reads the destination and detaches the model. Before that, the
engine explains any refusal precisely, in this order, each a distinct exception:

1. `InvalidTransition`  - the trigger does not exist or cannot fire from this state (409)
2. `NotAllowed`         - the actor's role may not fire it (403)
3. `FieldsInvalid`      - a required field is missing or a value has the wrong type (422)
4. `GuardRefused`       - a guard said no; its name and reason are given (422)

On success the caller gets a `Fired`: source, destination, the checked fields and the
effects to perform, in the definition's order.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from transitions import Machine
from transitions.extensions.diagrams import GraphMachine

from workflows.registry import GUARDS, Actor, Subject
from workflows.schema import Definition, FieldSpec, StateSpec, TransitionSpec

MAX_TEXT = 2000
MAX_INTEGER = 2**31 - 1  # what the database's INTEGER columns hold


class WorkflowRefusal(Exception):
    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


class InvalidTransition(WorkflowRefusal):
    pass


class NotAllowed(WorkflowRefusal):
    pass


class FieldsInvalid(WorkflowRefusal):
    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in fields.items()), {"fields": fields})
        self.fields = fields


class GuardRefused(WorkflowRefusal):
    def __init__(self, reasons: dict[str, str]) -> None:
        super().__init__("; ".join(reasons.values()), {"guards": reasons})
        self.reasons = reasons


@dataclass(frozen=True)
class Fired:
    trigger: str
    source: str
    dest: str
    fields: dict[str, Any]
    effects: tuple[str, ...]


@dataclass(frozen=True)
class Available:
    trigger: str
    dest: str
    label: str
    confirm: bool
    fields: tuple[FieldSpec, ...]


@dataclass
class _Model:
    state: str
    chosen: list[TransitionSpec] = field(default_factory=list)


def role_allows(spec: TransitionSpec, actor: Actor, subject: Subject) -> bool:
    """Admins may fire anything; `owner` means the customer the record belongs to."""
    if actor.role == "admin":
        return True
    if actor.role in spec.roles:
        return actor.role != "customer" or subject.get("owner_id") == actor.id
    return "owner" in spec.roles and actor.id is not None and subject.get("owner_id") == actor.id


def guard_failures(
    spec: TransitionSpec,
    subject: Subject,
    actor: Actor,
    fields: Mapping[str, Any],
    *,
    with_fields: bool = True,
) -> dict[str, str]:
    """Each failing guard's name and reason (guards needing fields skipped if asked)."""
    failures = {}
    for name in spec.guards:
        guard = GUARDS[name]
        if guard.uses_fields and not with_fields:
            continue
        reason = guard.check(subject, actor, fields)
        if reason is not None:
            failures[name] = reason
    return failures


def check_fields(specs: tuple[FieldSpec, ...], given: Mapping[str, Any]) -> dict[str, Any]:
    """The declared fields, typed and checked; undeclared keys are ignored."""
    problems: dict[str, str] = {}
    clean: dict[str, Any] = {}
    for spec in specs:
        value = given.get(spec.name)
        if isinstance(value, str) and spec.type != "choice":
            value = value.strip()
        if value is None or value == "":
            if spec.required:
                problems[spec.name] = "is required"
            continue
        if spec.type in ("string", "text"):
            limit = 200 if spec.type == "string" else MAX_TEXT
            if not isinstance(value, str):
                problems[spec.name] = "must be text"
            elif len(value) > limit:
                problems[spec.name] = f"must have at most {limit} characters"
            elif "\x00" in value:  # PostgreSQL text cannot hold NUL
                problems[spec.name] = "must not contain NUL characters"
            else:
                clean[spec.name] = value
        elif spec.type in ("integer", "money"):
            if isinstance(value, str) and value.lstrip("-").isdigit():
                value = int(value)
            if isinstance(value, bool) or not isinstance(value, int):
                problems[spec.name] = "must be a whole number" + (
                    " of cents" * (spec.type == "money")
                )
            elif value < 0:
                problems[spec.name] = "must be zero or more"
            elif value > MAX_INTEGER:
                problems[spec.name] = f"must be at most {MAX_INTEGER}"
            else:
                clean[spec.name] = value
        elif value not in spec.choices:
            problems[spec.name] = f"must be one of {', '.join(spec.choices)}"
        else:
            clean[spec.name] = value
    if problems:
        raise FieldsInvalid(problems)
    return clean


class Engine:
    """One definition version, its machine, and the questions services ask of it."""

    def __init__(self, definition: Definition, version: int) -> None:
        self.definition = definition
        self.version = version
        self._lock = threading.Lock()
        self._by_trigger: dict[str, list[TransitionSpec]] = {}
        for spec in definition.transitions:
            self._by_trigger.setdefault(spec.trigger, []).append(spec)
        self.machine = Machine(
            model=None,
            states=list(definition.state_names),
            initial=definition.initial,
            auto_transitions=False,
            send_event=True,
            ignore_invalid_triggers=False,
        )
        for spec in definition.transitions:
            self.machine.add_transition(
                spec.trigger,
                list(spec.source),
                spec.dest,
                conditions=[self._condition(spec)],
            )

    @staticmethod
    def _condition(spec: TransitionSpec) -> Any:
        def allowed(event: Any) -> bool:
            kwargs = event.kwargs
            ok = role_allows(spec, kwargs["actor"], kwargs["subject"]) and not guard_failures(
                spec, kwargs["subject"], kwargs["actor"], kwargs["fields"]
            )
            if ok:
                event.model.chosen.append(spec)
            return ok

        return allowed

    def state(self, name: str) -> StateSpec:
        return self.definition.state(name)

    def team_for(self, state: str, subject: Subject) -> str | None:
        """The team that waits on a record in `state` (None: nobody, or the system)."""
        spec = self.state(state)
        if spec.team_by is not None:
            key, mapping = spec.team_by
            return mapping.get(str(subject.get(key)))
        return spec.team

    def available(self, state: str, actor: Actor, subject: Subject) -> list[Available]:
        """What `actor` may fire from `state` now (guards that need input are checked on fire)."""
        result: list[Available] = []
        seen: set[str] = set()
        for spec in self.definition.transitions:
            if state not in spec.source or spec.trigger in seen:
                continue
            if spec.roles == ("system",) and not actor.is_system:
                continue  # system steps are not offered to people, admins included
            if not role_allows(spec, actor, subject):
                continue
            if guard_failures(spec, subject, actor, {}, with_fields=False):
                continue
            seen.add(spec.trigger)
            result.append(Available(spec.trigger, spec.dest, spec.label, spec.confirm, spec.fields))
        return result

    def fire(
        self,
        state: str,
        trigger: str,
        *,
        actor: Actor,
        subject: Subject,
        fields: Mapping[str, Any] | None = None,
    ) -> Fired:
        """Check and perform one transition; raises a WorkflowRefusal subclass if it may not."""
        given = dict(fields or {})
        specs = self._by_trigger.get(trigger)
        if not specs:
            raise InvalidTransition(f"there is no action {trigger!r}", {"trigger": trigger})
        from_here = [s for s in specs if state in s.source]
        if not from_here:
            raise InvalidTransition(
                f"{trigger!r} cannot be done while the return is {self.state(state).label}",
                {"trigger": trigger, "state": state},
            )
        permitted = [s for s in from_here if role_allows(s, actor, subject)]
        # Which variant applies can depend on the record (e.g. its disposition); when the
        # applicable variants all belong to other roles, that is a role refusal, not a guard's.
        applicable = [
            s for s in from_here if not guard_failures(s, subject, actor, {}, with_fields=False)
        ]
        if not permitted or (applicable and not any(s in permitted for s in applicable)):
            raise NotAllowed(f"your role may not {trigger!r} now", {"trigger": trigger})
        spec, clean = self._choose(permitted, subject, actor, given)
        model = _Model(state=state)
        with self._lock:
            self.machine.add_model(model, initial=state)
            try:
                moved = model.trigger(trigger, actor=actor, subject=subject, fields=clean)  # type: ignore[attr-defined]
            finally:
                self.machine.remove_model(model)
        if not moved or model.state != spec.dest:  # the machine disagreed with the checks
            raise GuardRefused({"state": "the transition did not happen"})
        return Fired(trigger, state, model.state, clean, spec.effects)

    @staticmethod
    def _choose(
        permitted: list[TransitionSpec], subject: Subject, actor: Actor, given: dict[str, Any]
    ) -> tuple[TransitionSpec, dict[str, Any]]:
        """The first permitted transition whose subject guards pass, with its checked fields."""
        reasons: dict[str, str] = {}
        for spec in permitted:
            failed = guard_failures(spec, subject, actor, {}, with_fields=False)
            if failed:
                reasons.update(failed)
                continue
            clean = check_fields(spec.fields, given)
            failed = guard_failures(spec, subject, actor, clean)
            if failed:
                raise GuardRefused(failed)
            return spec, clean
        raise GuardRefused(reasons)

    def mermaid(self, active: str | None = None) -> str:
        """The definition as a Mermaid state diagram (for the admin page)."""
        model = _Model(state=active or self.definition.initial)
        graph_machine = GraphMachine(
            model=model,
            states=list(self.definition.state_names),
            initial=model.state,
            auto_transitions=False,
            graph_engine="mermaid",
        )
        for spec in self.definition.transitions:
            graph_machine.add_transition(spec.trigger, list(spec.source), spec.dest)
        return str(model.get_graph().draw(None))  # type: ignore[attr-defined]


_CACHE: dict[tuple[str, int, str], Engine] = {}
_CACHE_LOCK = threading.Lock()


def engine_for(definition: Definition, version: int) -> Engine:
    """The cached engine for (definition name, version). Saved versions never change; the
    content hash in the key only guards against two databases (tests) reusing a number."""
    digest = hashlib.sha256(json.dumps(definition.raw, sort_keys=True).encode()).hexdigest()
    key = (definition.name, version, digest)
    with _CACHE_LOCK:
        engine = _CACHE.get(key)
        if engine is None:
            engine = _CACHE[key] = Engine(definition, version)
        return engine
