"""The engine: a `transitions` machine per (definition name, version), fired with full checks.

The machine is built once per version of a store and cached (one cache, `engine_for`); each firing
attaches a throw-away model whose initial state is the record's current state and triggers
the event. The machine's conditions are the whole decision: for each variant of the trigger,
in definition order, its guards on the record, the actor's role, the fields and the guards
that read them, each asked once. A refusal is explained precisely, in this order, each a
distinct exception:

1. `InvalidTransition`  - the trigger does not exist or cannot fire from this state (409)
2. `NotAllowed`         - the actor's role may not fire it (403)
3. `FieldsInvalid`      - a required field is missing or a value has the wrong type (422)
4. `GuardRefused`       - a guard said no; its name and reason are given (422)

On success the caller gets a `Fired`: source, destination, the checked fields and the
effects to perform, in the definition's order.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from transitions import EventData, Machine

from workflows.registry import GUARDS, Actor, Subject
from workflows.schema import Definition, FieldSpec, StateSpec, TransitionSpec

MAX_TEXT = 2000
MAX_INTEGER = 2**31 - 1  # what the database's INTEGER columns hold

# Reads a trigger's fields from what the caller received, given the fields it declares.
FieldReader = Callable[[Sequence[FieldSpec]], Mapping[str, Any]]


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


def role_allows(spec: TransitionSpec, actor: Actor, subject: Subject) -> bool:
    """Admins may fire anything; `owner` means the customer the record belongs to."""
    if actor.role == "admin":
        return True
    if actor.role in spec.roles:
        return actor.role != "customer" or subject.get("owner_id") == actor.id
    return "owner" in spec.roles and actor.id is not None and subject.get("owner_id") == actor.id


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
            digits = value.removeprefix("-") if isinstance(value, str) else ""
            if digits.isascii() and digits.isdigit() and len(digits) < 19:
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


class _Attempt:
    """One firing's model on the shared machine (and the guards' answers while listing what
    may fire). Its conditions decide each variant of the trigger once (guards on the record,
    then the role, then the fields and the guards that read them) and note why a variant
    was passed over, so a refusal can be explained."""

    def __init__(
        self, state: str, actor: Actor, subject: Subject, fields: Mapping[str, Any] | FieldReader
    ) -> None:
        self.state = state
        self.actor = actor
        self.subject = subject
        self.given = fields
        self.chosen: TransitionSpec | None = None
        self.clean: dict[str, Any] = {}
        self.refused: dict[TransitionSpec, dict[str, str]] = {}  # variant -> failing guards
        self.other_role = False  # a variant that applies belongs to another role
        self._guards: dict[str, str | None] = {}

    def failures(self, spec: TransitionSpec, *, uses_fields: bool) -> dict[str, str]:
        """The failing guards of `spec` (those reading fields, or those that do not); each
        guard runs once per firing, however many variants name it."""
        failures = {}
        for name in spec.guards:
            guard = GUARDS[name]
            if guard.uses_fields != uses_fields:
                continue
            if uses_fields:
                reason = guard.check(self.subject, self.actor, self.clean)
            else:
                if name not in self._guards:
                    self._guards[name] = guard.check(self.subject, self.actor, {})
                reason = self._guards[name]
            if reason is not None:
                failures[name] = reason
        return failures

    def admits(self, spec: TransitionSpec) -> bool:
        """The machine's condition for `spec`. The first variant that applies to the record
        and the actor's role is the one: its field problems or guard refusals are raised."""
        failed = self.failures(spec, uses_fields=False)
        if failed:
            self.refused[spec] = failed
            return False
        if not role_allows(spec, self.actor, self.subject):
            self.other_role = True
            return False
        self.chosen = spec
        given = self.given(spec.fields) if callable(self.given) else self.given
        self.clean = check_fields(spec.fields, given)
        failed = self.failures(spec, uses_fields=True)
        if failed:
            raise GuardRefused(failed)
        return True


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
        # The machine tries a trigger's variants in definition order; each condition is the
        # whole decision for its variant (see `_Attempt.admits`).
        for spec in definition.transitions:
            self.machine.add_transition(
                spec.trigger, list(spec.source), spec.dest, conditions=[self._condition(spec)]
            )

    @staticmethod
    def _condition(spec: TransitionSpec) -> Callable[[EventData], bool]:
        def admits(event: EventData) -> bool:
            return cast(_Attempt, event.model).admits(spec)

        return admits

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
        attempt = _Attempt(state, actor, subject, {})
        for spec in self.definition.transitions:
            if state not in spec.source or spec.trigger in seen:
                continue
            if spec.roles == ("system",) and not actor.is_system:
                continue  # system steps are not offered to people, admins included
            if not role_allows(spec, actor, subject):
                continue
            if attempt.failures(spec, uses_fields=False):
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
        fields: Mapping[str, Any] | FieldReader | None = None,
    ) -> Fired:
        """Check and perform one transition; raises a WorkflowRefusal subclass if it may not.

        `fields` are the values given, or a function that reads them once the variant that
        applies is known (a form types them by their declared specs). The function runs while
        this engine's machine is held, so it must only read what is already at hand (a parsed
        form), never wait on anything."""
        specs = self._by_trigger.get(trigger)
        if not specs:
            raise InvalidTransition(f"there is no action {trigger!r}", {"trigger": trigger})
        from_here = [s for s in specs if state in s.source]
        if not from_here:
            raise InvalidTransition(
                f"{trigger!r} cannot be done while the return is {self.state(state).label}",
                {"trigger": trigger, "state": state},
            )
        attempt = _Attempt(state, actor, subject, {} if fields is None else fields)
        with self._lock:
            self.machine.add_model(attempt, initial=state)
            try:
                moved = attempt.trigger(trigger)  # type: ignore[attr-defined]
            finally:
                self.machine.remove_model(attempt)
        if moved and attempt.chosen is not None:
            return Fired(trigger, state, attempt.state, attempt.clean, attempt.chosen.effects)
        # No variant applies both to the record and to the actor's role. When the variants
        # that apply all belong to other roles, that is a role refusal, not a guard's.
        permitted = [s for s in from_here if role_allows(s, actor, subject)]
        if attempt.other_role or not permitted:
            raise NotAllowed(f"your role may not {trigger!r} now", {"trigger": trigger})
        reasons: dict[str, str] = {}
        for spec in permitted:
            reasons.update(attempt.refused.get(spec, {}))
        raise GuardRefused(reasons)


class Store:
    """Where saved definitions come from when no database is at hand (the shipped files):
    engines are cached per store, so two databases in one process never share a machine."""


SHIPPED = Store()
_ENGINES: weakref.WeakKeyDictionary[object, dict[tuple[str, int], Engine]] = (
    weakref.WeakKeyDictionary()
)
_ENGINES_LOCK = threading.Lock()


def engine_for(
    name: str, version: int, load: Callable[[], Definition], *, store: object = SHIPPED
) -> Engine:
    """The engine for (definition name, version) of `store` (the database the versions are
    saved in), built from `load()` the first time this process asks for it. A saved version
    never changes, so it is never read again; a store that goes away takes its engines."""
    engines = _ENGINES.get(store)
    if engines is None:
        with _ENGINES_LOCK:
            engines = _ENGINES.setdefault(store, {})
    engine = engines.get((name, version))
    if engine is None:
        built = Engine(load(), version)
        with _ENGINES_LOCK:
            engine = engines.setdefault((name, version), built)
    return engine
