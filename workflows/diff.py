"""What changed between two workflow definitions, for an admin reading a draft before
publishing it: states and transitions added, removed and changed, with each changed
attribute's old and new value.

A state is known by its name. A transition is known by its trigger and, as one trigger may
have several variants (told apart by their guards), by its place among that trigger's
variants: the second `process` is compared with the second `process`. Pure: the definitions
may be malformed (a draft being typed), so nothing here assumes more than dicts and lists.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

STATE_ATTRIBUTES = (
    "label", "team", "sla_hours", "terminal", "tone", "step", "notice", "guidance",
)  # fmt: skip
TRANSITION_ATTRIBUTES = (
    "source", "dest", "roles", "fields", "guards", "effects", "label", "confirm",
)  # fmt: skip


@dataclass(frozen=True)
class Change:
    """One attribute of a state or transition: its value before and after."""

    attribute: str
    old: Any
    new: Any


@dataclass(frozen=True)
class Changed:
    """A state or transition present on both sides whose attributes differ."""

    key: str
    changes: tuple[Change, ...]


@dataclass(frozen=True)
class Part:
    """States or transitions: the keys added and removed, and the ones changed."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: tuple[Changed, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)


@dataclass(frozen=True)
class DefinitionDiff:
    initial: Change | None = None
    states: Part = field(default_factory=Part)
    transitions: Part = field(default_factory=Part)

    @property
    def empty(self) -> bool:
        return self.initial is None and self.states.empty and self.transitions.empty


def diff_definitions(old: Any, new: Any) -> DefinitionDiff:
    """Every difference between `old` (say, the published version) and `new` (the draft)."""
    old_map = old if isinstance(old, Mapping) else {}
    new_map = new if isinstance(new, Mapping) else {}
    before, after = old_map.get("initial"), new_map.get("initial")
    return DefinitionDiff(
        initial=Change("initial", before, after) if before != after else None,
        states=_part(_states(old_map), _states(new_map), STATE_ATTRIBUTES),
        transitions=_part(_transitions(old_map), _transitions(new_map), TRANSITION_ATTRIBUTES),
    )


def _items(definition: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    items = definition.get(key)
    if not isinstance(items, list):
        return []
    return [item for item in items if isinstance(item, Mapping)]


def _states(definition: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    found: dict[str, Mapping[str, Any]] = {}
    for state in _items(definition, "states"):
        name = state.get("name")
        if isinstance(name, str) and name not in found:
            found[name] = state
    return found


def _transitions(definition: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    found: dict[str, Mapping[str, Any]] = {}
    seen: dict[str, int] = {}
    for transition in _items(definition, "transitions"):
        trigger = str(transition.get("trigger"))
        seen[trigger] = seen.get(trigger, 0) + 1
        found[trigger if seen[trigger] == 1 else f"{trigger} ({seen[trigger]})"] = transition
    return found


def _normal(attribute: str, value: Any) -> Any:
    """Values that mean the same compared as the same: a missing list is an empty one, a
    missing flag is false, a single source is a list of one."""
    if attribute in ("roles", "fields", "guards", "effects") and value is None:
        return []
    if attribute == "source" and isinstance(value, str):
        return [value]
    if attribute in ("terminal", "confirm") and value is None:
        return False
    return value


def _part(
    old: dict[str, Mapping[str, Any]],
    new: dict[str, Mapping[str, Any]],
    attributes: tuple[str, ...],
) -> Part:
    changed = []
    for key in (k for k in new if k in old):
        changes = tuple(
            Change(attribute, before, after)
            for attribute in attributes
            if (before := _normal(attribute, old[key].get(attribute)))
            != (after := _normal(attribute, new[key].get(attribute)))
        )
        if changes:
            changed.append(Changed(key, changes))
    return Part(
        added=tuple(k for k in new if k not in old),
        removed=tuple(k for k in old if k not in new),
        changed=tuple(changed),
    )
