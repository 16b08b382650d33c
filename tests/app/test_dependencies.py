"""Dependencies: every range in pyproject.toml stops below the next major release, and the
lock files (`make lock`) pin each dependency it names, with hashes, inside that range."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]

_PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[^\s\\;]+)")
_HASH = re.compile(r"--hash=sha256:[0-9a-f]{64}\b")
_UPPER_BOUNDS = frozenset({"<", "<=", "==", "~=", "==="})


def _pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _runtime() -> list[Requirement]:
    return [Requirement(r) for r in _pyproject()["project"]["dependencies"]]


def _dev() -> list[Requirement]:
    return [Requirement(r) for r in _pyproject()["project"]["optional-dependencies"]["dev"]]


def _build() -> list[Requirement]:
    return [Requirement(r) for r in _pyproject()["build-system"]["requires"]]


def _is_capped(requirement: Requirement) -> bool:
    return any(spec.operator in _UPPER_BOUNDS for spec in requirement.specifier)


def _pins(text: str) -> dict[NormalizedName, tuple[Version, int]]:
    """Each `name==version` of a pip-compile file, with how many hashes follow it."""
    pins: dict[NormalizedName, tuple[Version, int]] = {}
    current: NormalizedName | None = None
    for line in text.splitlines():
        match = _PIN.match(line)
        if match:
            current = canonicalize_name(match["name"])
            pins[current] = (Version(match["version"]), 0)
        elif line[:1].isspace() and current is not None:
            version, hashes = pins[current]
            pins[current] = (version, hashes + len(_HASH.findall(line)))
        elif line.strip() and not line.lstrip().startswith("#"):
            current = None
    return pins


def _lock(name: str) -> dict[NormalizedName, tuple[Version, int]]:
    return _pins((ROOT / name).read_text())


def _unpinned(
    requirements: list[Requirement], pins: dict[NormalizedName, tuple[Version, int]]
) -> list[str]:
    """The requirements a lock file leaves out, pins outside their range, or pins unhashed."""
    problems = []
    for requirement in requirements:
        pin = pins.get(canonicalize_name(requirement.name))
        if pin is None:
            problems.append(f"{requirement}: not pinned")
        elif not requirement.specifier.contains(pin[0], prereleases=True):
            problems.append(f"{requirement}: pinned at {pin[0]}")
        elif pin[1] == 0:
            problems.append(f"{requirement}: pinned without a hash")
    return problems


def test_it_caps_every_dependency_and_build_requirement() -> None:
    requirements = _runtime() + _dev() + _build()
    assert len(requirements) >= 20
    assert [str(r) for r in requirements if not _is_capped(r)] == []


def test_it_pins_every_runtime_dependency_with_hashes_in_requirements_txt() -> None:
    assert _unpinned(_runtime(), _lock("requirements.txt")) == []


def test_it_pins_every_runtime_and_dev_dependency_with_hashes_in_requirements_dev_txt() -> None:
    assert _unpinned(_runtime() + _dev(), _lock("requirements-dev.txt")) == []


@pytest.mark.parametrize("name", ["requirements.txt", "requirements-dev.txt"])
def test_it_hashes_every_package_a_lock_file_pins(name: str) -> None:
    pins = _lock(name)
    assert len(pins) >= len(_runtime())
    assert [package for package, (_, hashes) in pins.items() if hashes == 0] == []


def test_it_pins_the_runtime_packages_at_the_versions_the_dev_lock_tests() -> None:
    runtime, dev = _lock("requirements.txt"), _lock("requirements-dev.txt")
    assert {name: runtime[name][0] for name in runtime} == {
        name: dev[name][0] for name in runtime if name in dev
    }


def test_it_installs_the_venv_and_the_image_from_the_lock_files() -> None:
    makefile = (ROOT / "Makefile").read_text()
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "pip install --quiet --require-hashes -r requirements-dev.txt" in makefile
    assert "pip install --no-cache-dir --require-hashes -r requirements.txt" in dockerfile
    for text in (makefile, dockerfile):
        assert [line for line in text.splitlines() if re.search(r"pip install .*\.\[", line)] == []
        assert "--no-deps" in text


def test_it_sees_an_uncapped_range_and_a_missing_or_unhashed_or_out_of_range_pin() -> None:
    assert not _is_capped(Requirement("redis>=5"))
    assert _is_capped(Requirement("redis>=5,<9"))
    pins = _pins(
        "# header\n"
        "flask==3.1.3 \\\n"
        "    --hash=sha256:" + "a" * 64 + "\n"
        "    # via backroom (pyproject.toml)\n"
        "redis==8.2.0\n"
        "    # via backroom (pyproject.toml)\n"
    )
    assert pins == {"flask": (Version("3.1.3"), 1), "redis": (Version("8.2.0"), 0)}
    assert _unpinned(
        [Requirement("flask>=3.0,<4"), Requirement("redis>=5,<9"), Requirement("pillow>=10,<14")],
        pins,
    ) == ["redis<9,>=5: pinned without a hash", "pillow<14,>=10: not pinned"]
    assert _unpinned([Requirement("flask>=4,<5")], pins) == ["flask<5,>=4: pinned at 3.1.3"]
