"""Optional sampling of the server with py-spy during a measured run (`--profile DIR`).

py-spy writes collapsed stacks (`--format raw`); `summarize` turns them into the hot spots
worth tuning: self time by package and by function, and inclusive time of project functions.
Two modes. "gil" samples only the thread holding the GIL (`py-spy --gil`): a Python process
runs Python code on one core at a time, so that is where a GIL-bound server's capacity goes.
"wall" samples every thread and leaves out those waiting for work: where requests spend
their time, including C code running without the GIL (sqlite3, psycopg, sockets) and waits
on locks, the database or Redis - the view that shows serialization points. (py-spy's own
idle detection does not work in this environment, hence the filter.)
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from tests.bench.server import ROOT

FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")
PROJECT_DIRS = ("app", "views", "jobs", "workflows")


def py_spy() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"
    if beside.exists():
        return str(beside)
    return shutil.which("py-spy")


def start(
    pid: int, seconds: float, output: Path, *, mode: str = "gil"
) -> subprocess.Popen[bytes] | None:
    """py-spy on `pid` and its children; `mode` "gil" samples only the thread holding the GIL
    (where the interpreter's time goes: the limit of one Python process), "wall" every thread
    (also time in C with the GIL released, e.g. inside sqlite3, and waits on locks, the
    database or Redis; `summarize(drop_idle=True)` leaves out threads waiting for work)."""
    exe = py_spy()
    if exe is None:
        return None
    output.parent.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [
            exe,
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(max(1, round(seconds))),
            "--rate",
            "100",
            "--format",
            "raw",
            "--full-filenames",
            "--subprocesses",
            *(["--gil"] if mode == "gil" else ["--idle"]),
            "--output",
            str(output),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


@dataclass(frozen=True)
class Frame:
    func: str
    file: str

    @property
    def where(self) -> str:
        return short_path(self.file)

    @property
    def package(self) -> str:
        return package_of(self.file)

    def label(self) -> str:
        return f"{self.func} ({self.where})"


def short_path(path: str) -> str:
    marker = "site-packages/"
    if marker in path:
        return path.split(marker, 1)[1]
    root = str(ROOT) + "/"
    if path.startswith(root):
        return path[len(root) :]
    match = re.search(r"python3\.\d+/(.*)$", path)
    if match:
        return match.group(1)
    return path


def package_of(path: str) -> str:
    short = short_path(path)
    if "site-packages/" in path:
        return short.split("/", 1)[0].removesuffix(".py")
    if "/bin/" in path:
        return "bin/" + path.rsplit("/", 1)[-1]
    if path.startswith(str(ROOT) + "/"):
        top = short.split("/", 1)[0]
        return f"project:{short.rsplit('.', 1)[0]}" if top in PROJECT_DIRS else short
    if re.search(r"python3\.\d+/", path):
        return "stdlib:" + short.split("/", 1)[0].removesuffix(".py")
    return short


def parse(text: str) -> list[tuple[list[Frame], int]]:
    stacks: list[tuple[list[Frame], int]] = []
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames: list[Frame] = []
        for raw in stack.split(";"):
            match = FRAME.match(raw)
            if match is None:
                continue  # "process 123:..." and thread labels
            frames.append(Frame(match.group("func"), match.group("file")))
        if frames:
            stacks.append((frames, int(count)))
    return stacks


# Leaves where a thread with no request in hand waits for work (pool threads, accept loops,
# the scheduler). Dropped in "wall" mode unless Flask is on the stack, in which case the
# wait belongs to a request (a lock, the database, Redis) and is exactly what to see.
IDLE_LEAVES = {
    "Condition.wait",
    "Event.wait",
    "_worker",
    "select",
    "poll",
    "sleep",
    "Queue.get",
    "Thread._wait_for_tstate_lock",
    "wait_for_and_dispatch_events",
    "ThreadWorker.wait_for_and_dispatch_events",
    "Arbiter.sleep",
    "Arbiter.wait_for_signals",
    "Condition._acquire_restore",
    "handler_thread",
    "ThreadedTaskDispatcher.handler_thread",
}


def is_idle(frames: list[Frame]) -> bool:
    leaf = frames[-1].func
    if not (leaf in IDLE_LEAVES or leaf.endswith((".select", ".poll", ".sleep"))):
        return False
    return not any(f.package == "flask" for f in frames[:-1])  # flask: inside a request


def summarize(text: str, top: int = 12, *, drop_idle: bool = False) -> str:
    stacks = parse(text)
    dropped = 0
    if drop_idle:
        busy = [(frames, n) for frames, n in stacks if not is_idle(frames)]
        dropped = sum(n for _, n in stacks) - sum(n for _, n in busy)
        stacks = busy
    total = sum(n for _, n in stacks)
    if not total:
        return "  (no samples)"
    by_package: Counter[str] = Counter()
    package_inclusive: Counter[str] = Counter()
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for frames, n in stacks:
        leaf = frames[-1]
        by_package[_bucket(leaf)] += n
        self_time[leaf.label()] += n
        for label in {f.label() for f in frames if f.package.startswith("project:")}:
            inclusive[label] += n
        for package in {_bucket(f) for f in frames}:
            package_inclusive[package] += n

    def pct(n: int) -> str:
        return f"{100.0 * n / total:5.1f}%"

    out = [f"  {total} samples" + (f" ({dropped} of idle threads left out)" if dropped else "")]
    out.append("  self time by package:")
    out += [f"    {pct(n)}  {name}" for name, n in by_package.most_common(top)]
    out.append("  inclusive time by package (the package and what it calls):")
    out += [
        f"    {pct(n)}  {name}"
        for name, n in package_inclusive.most_common()
        if n < 0.95 * total and not _is_plumbing(name)
    ][:top]
    out.append("  self time by function:")
    out += [f"    {pct(n)}  {name}" for name, n in self_time.most_common(top)]
    out.append("  inclusive time of project functions:")
    out += [f"    {pct(n)}  {name}" for name, n in inclusive.most_common(top)]
    return "\n".join(out)


def _is_plumbing(package: str) -> bool:
    """Thread entry points that sit under everything and say nothing."""
    return package in {"stdlib:threading", "stdlib:runpy"} or package.startswith("bin/")


def _bucket(frame: Frame) -> str:
    package = frame.package
    if package.startswith("project:"):
        return "project code (app/, views/, jobs/)"
    return package
