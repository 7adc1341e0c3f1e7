"""The longest functions in the package, by source lines.

Every ``def`` and ``async def`` under ``src/sowcast`` (methods and nested functions
included), with its length ``end_lineno - lineno + 1`` as the :mod:`ast` module reports
it (decorators not counted, the docstring counted). Issue 19's rule: no function over
about 80 lines without a reason in its docstring. Prints the longest ``--top`` functions,
or with ``--over N`` every function longer than N lines, one per line::

    LINES  path:line  qualified.name

Usage::

    .venv/bin/python benchmarks/longest_functions.py [--top 10] [--over 80] [--root src/sowcast]
"""

from __future__ import annotations

import argparse
import ast
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "sowcast"


@dataclass(frozen=True)
class FunctionLength:
    """One function: where it is, its dotted name inside the module, its line count."""

    path: Path
    line: int
    name: str
    lines: int


def functions_in(path: Path) -> list[FunctionLength]:
    """Every function of one source file with its length; nested names joined with dots."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[FunctionLength] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                name = f"{prefix}{child.name}"
                found.append(FunctionLength(path, child.lineno, name,
                                            child.end_lineno - child.lineno + 1))
                visit(child, f"{name}.")
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            else:
                visit(child, prefix)

    visit(tree, "")
    return found


def longest_functions(root: Path) -> list[FunctionLength]:
    """All functions under ``root``, longest first (ties by path and line)."""
    every = [f for path in sorted(root.rglob("*.py")) for f in functions_in(path)]
    return sorted(every, key=lambda f: (-f.lines, str(f.path), f.line))


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=PACKAGE, help="folder to scan (default src/sowcast)")
    parser.add_argument("--top", type=int, default=10, help="how many to list (default 10)")
    parser.add_argument("--over", type=int, default=None,
                        help="list every function longer than this many lines instead of the top N")
    args = parser.parse_args(argv)
    functions = longest_functions(args.root)
    shown = ([f for f in functions if f.lines > args.over] if args.over is not None
             else functions[:args.top])
    for f in shown:
        print(f"{f.lines:5d}  {_shown(f.path)}:{f.line}  {f.name}")
    if args.over is not None:
        print(f"{len(shown)} of {len(functions)} functions over {args.over} lines")


if __name__ == "__main__":
    main()
