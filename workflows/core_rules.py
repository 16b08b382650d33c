"""What a workflow's services rely on (`CoreRules`), so that an admin's edit of its
definition must keep it, and the check of a definition against them (`core_problems`, run
by `workflows.validation.validate_definition` when it is given the rules)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class CoreRules:
    """What a workflow's services rely on, so an admin's edit must keep it: the definition's
    name, states and triggers, which states stay terminal, edges (trigger, source, dest,
    role) the services fire themselves, effects some variant of a trigger must keep, the only
    triggers an effect may be on, and the guard that must stand beside an effect."""

    name: str
    states: tuple[str, ...] = ()
    triggers: tuple[str, ...] = ()
    terminals: tuple[str, ...] = ()
    edges: tuple[tuple[str, str, str, str], ...] = ()
    effects: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    effect_triggers: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    effect_guards: Mapping[str, str] = field(default_factory=dict)


def core_problems(
    core: CoreRules,
    states: list[Any],
    transitions: list[Any],
    terminals: set[str],
    problems: list[str],
) -> None:
    """What an edit broke of `core`, added to `problems` (one sentence each)."""
    names = {
        s.get("name")
        for s in states
        if isinstance(s, Mapping)
        and isinstance(s.get("name"), str)
        and s.get("name") in core.terminals
    }
    for name in core.terminals:
        if name in names and name not in terminals:
            problems.append(f"core state {name} must stay terminal")
    specs = [t for t in transitions if isinstance(t, Mapping)]

    def listed(t: Mapping[str, Any], key: str) -> list[Any]:
        value = t.get(key)
        if isinstance(value, str) and key == "source":
            return [value]
        return value if isinstance(value, list) else []

    for trigger, source, dest, role in core.edges:
        if not any(
            t.get("trigger") == trigger
            and source in listed(t, "source")
            and t.get("dest") == dest
            and role in listed(t, "roles")
            for t in specs
        ):
            problems.append(
                f"core transition {trigger} from {source} to {dest} by {role} must be kept"
            )
    for trigger, effects in core.effects.items():
        for effect in effects:
            if not any(
                t.get("trigger") == trigger and effect in listed(t, "effects") for t in specs
            ):
                problems.append(f"core trigger {trigger} must keep its effect {effect}")
    for t in specs:
        where = f"transition {t.get('trigger')!r}"
        for effect in listed(t, "effects"):
            allowed = core.effect_triggers.get(effect) if isinstance(effect, str) else None
            if allowed is not None and t.get("trigger") not in allowed:
                problems.append(f"{where}: effect {effect} belongs only on {', '.join(allowed)}")
            guard = core.effect_guards.get(effect) if isinstance(effect, str) else None
            if guard is not None and guard not in listed(t, "guards"):
                problems.append(f"{where}: effect {effect} needs the guard {guard}")
