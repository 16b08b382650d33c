"""What the admin's draft editor needs besides saving: the registry's choices (roles, teams,
field types, guards and effects with their descriptions), a draft compared with the published
version, and how many returns are in flight (they keep the version they started on when a
new one is published)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models.workflows import WorkflowDefinition
from app.services.workflows.store import PUBLISHED, ensure_shipped
from workflows.diff import DefinitionDiff, diff_definitions
from workflows.registry import EFFECTS, FIELD_TYPES, GUARDS, ROLES, TEAMS
from workflows.validation import TONES


@dataclass(frozen=True)
class EditorChoices:
    """The names a definition may use, in the order the editor lists them."""

    roles: tuple[str, ...]
    teams: tuple[str, ...]
    field_types: tuple[str, ...]
    tones: tuple[str, ...]
    guards: tuple[tuple[str, str], ...]  # (name, description)
    effects: tuple[tuple[str, str], ...]


def editor_choices() -> EditorChoices:
    """The registry's allowlist as the editor's selects and checkboxes show it (no I/O)."""
    return EditorChoices(
        roles=tuple(sorted(ROLES)),
        teams=tuple(sorted(TEAMS)),
        field_types=tuple(sorted(FIELD_TYPES)),
        tones=TONES,
        guards=tuple((g.name, g.description) for g in GUARDS.values()),
        effects=tuple(EFFECTS.items()),
    )


@dataclass(frozen=True)
class PublishedComparison:
    """A definition against the published version (`version` None: nothing published)."""

    version: int | None
    diff: DefinitionDiff


def compare_with_published(session: Session, name: str, definition: Any) -> PublishedComparison:
    """`definition` (a draft, perhaps malformed) against the published version of `name`.
    Reads only; seeds the shipped version 1 first if none is stored."""
    ensure_shipped(session, name)
    row = session.execute(
        select(WorkflowDefinition.version, WorkflowDefinition.definition).where(
            WorkflowDefinition.name == name, WorkflowDefinition.status == PUBLISHED
        )
    ).first()
    if row is None:
        return PublishedComparison(None, diff_definitions({}, definition))
    return PublishedComparison(
        row.version, diff_definitions(json.loads(row.definition), definition)
    )
