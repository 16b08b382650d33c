"""What import-linter cannot see: views only read (every write is a service call), and no
view reaches for `app/__init__` (the module that registers the views)."""

from __future__ import annotations

import ast
from pathlib import Path

from app.config import ROOT

SESSION_CALLS = {"add", "add_all", "commit", "delete", "execute", "flush", "merge", "rollback"}


def _views() -> list[Path]:
    return sorted((ROOT / "views").rglob("*.py"))


def _session_calls(tree: ast.AST) -> list[str]:
    """Calls like `session.add(...)` or `db_session().commit()` in a module."""
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        target = node.func.value
        named = isinstance(target, ast.Name) and target.id in ("session", "db")
        called = (
            isinstance(target, ast.Call)
            and isinstance(target.func, ast.Name)
            and target.func.id == "db_session"
        )
        if (named or called) and node.func.attr in SESSION_CALLS:
            found.append(f"line {node.lineno}: .{node.func.attr}()")
    return found


def _imports(tree: ast.AST) -> list[tuple[str, str]]:
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            out += [(node.module, alias.name) for alias in node.names]
        elif isinstance(node, ast.Import):
            out += [(alias.name, "") for alias in node.names]
    return out


def test_views_write_nothing_themselves_every_write_is_a_service_call():
    offenders = {}
    for path in _views():
        tree = ast.parse(path.read_text())
        calls = _session_calls(tree)
        if ("app.db", "transaction") in _imports(tree):
            calls.append("imports app.db.transaction")
        if calls:
            offenders[str(path.relative_to(ROOT))] = calls
    assert offenders == {}


def test_no_view_imports_the_app_package_that_registers_it():
    offenders = [
        str(path.relative_to(ROOT))
        for path in _views()
        if any(module == "app" for module, _ in _imports(ast.parse(path.read_text())))
    ]
    assert offenders == []


def test_the_scan_sees_a_write_and_an_import_of_app():
    tree = ast.parse("from app import db_session\nsession.add(x)\ndb_session().commit()\n")
    assert _session_calls(tree) == ["line 2: .add()", "line 3: .commit()"]
    assert ("app", "db_session") in _imports(tree)
