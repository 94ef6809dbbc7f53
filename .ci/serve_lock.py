"""Write requirements-serve.txt: the serving image's lock, a subset of requirements.txt.

    python .ci/serve_lock.py            # rewrite requirements-serve.txt
    python .ci/serve_lock.py --check    # exit 1 when it is out of date (tests/test_requirements.py)

The serving image installs requirements-serve.in's packages and everything they need (their
`Requires-Dist`, markers evaluated for this Python on Linux), each at the version
requirements.txt pins: one source of truth for versions, no second resolve. Run it in the
project's virtual environment (it reads the installed packages' metadata).
"""

from __future__ import annotations

import re
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
FULL, TOP, OUT = ROOT / "requirements.txt", ROOT / "requirements-serve.in", ROOT / "requirements-serve.txt"
HEADER = """\
# Serving-image lock (Dockerfile target `serve`): requirements-serve.in's packages and their
# dependencies, each pinned as in requirements.txt. Generated: python .ci/serve_lock.py
# (do not edit by hand; tests/test_requirements.py checks it is current).
"""


def pins(path: Path) -> dict[str, str]:
    """name (canonical) -> the lock's `name==version` line."""
    out = {}
    for line in path.read_text().splitlines():
        if re.match(r"^[A-Za-z0-9]", line):
            out[canonicalize_name(re.split(r"[=<>!~;\[ ]", line, maxsplit=1)[0])] = line.strip()
    return out


def top_level(path: Path) -> list[str]:
    """requirements-serve.in's package names (comments and blank lines skipped)."""
    return [canonicalize_name(Requirement(line.split("#")[0].strip()).name)
            for line in path.read_text().splitlines() if line.split("#")[0].strip()]


def closure(names: list[str]) -> set[str]:
    """Every installed distribution the named ones need, themselves included."""
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for spec in metadata.requires(name) or []:
            req = Requirement(spec)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(canonicalize_name(req.name))
    return seen


def render() -> str:
    """The lock's text."""
    full = pins(FULL)
    needed = closure(top_level(TOP))
    missing = sorted(needed - set(full))
    if missing:
        raise SystemExit(f"{', '.join(missing)}: needed by requirements-serve.in but not "
                         "pinned in requirements.txt")
    return HEADER + "".join(f"{full[n]}\n" for n in sorted(needed, key=str.lower))


def main() -> int:
    text = render()
    if "--check" in sys.argv[1:]:
        if not OUT.is_file() or OUT.read_text() != text:
            print(f"{OUT.name} is out of date: python .ci/serve_lock.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    print(f"wrote {OUT.name}: {text.count(chr(10)) - HEADER.count(chr(10))} packages")
    return 0


if __name__ == "__main__":
    sys.exit(main())
