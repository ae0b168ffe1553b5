"""One command line for every benchmark: the fields of its Config are its options.

``--quick`` starts from the Config's QUICK values (a few seconds, to see that it works), the
options given override either, ``--database both`` runs it once per database, and the figures
are printed as the report renders them (``--json`` also writes them raw).
"""
from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import MISSING, field, fields
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
DATABASES = ("sqlite", "postgresql")
_SCALARS: dict[str, Callable[[str], Any]] = {"int": int, "float": float, "str": str}


def configure(kind: type[T], *, quick: bool = False, **overrides: Any) -> T:
    """A Config from its defaults, or from its QUICK values, then ``overrides``."""
    return kind(**{**(kind.QUICK if quick else {}), "quick": quick, **overrides})  # type: ignore[attr-defined]


def _option_type(annotation: str) -> Callable[[str], Any]:
    if annotation.startswith("tuple["):
        item = _SCALARS[annotation.removeprefix("tuple[").split(",")[0]]
        return lambda text: tuple(item(part) for part in text.split(",") if part.strip())
    return _SCALARS[annotation]


def main(name: str, kind: type, run: Callable[[Any], dict[str, Any]], doc: str, argv: list[str] | None = None, *,
         subcommand: str | None = None) -> int:
    """``python -m bench.<name>``: ``doc``'s first line is its description."""
    from bench import report

    parser = argparse.ArgumentParser(prog=f"python -m bench.{name}", description=doc.splitlines()[0])
    if subcommand:
        parser.add_argument("what", choices=(subcommand,))
    options = [f for f in fields(kind) if f.name != "quick"]
    for f in options:
        flag = "--" + f.name.replace("_", "-")
        default = f.default if f.default is not MISSING else f.default_factory()  # type: ignore[misc]
        shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
        text = f"{f.metadata.get('help', '')} (default {shown})".strip()
        if f.type == "bool":
            parser.add_argument(flag, action="store_true", default=None, help=f.metadata.get("help"))
        else:
            parser.add_argument(flag, type=_option_type(f.type), choices=f.metadata.get("choices"), help=text)
    parser.add_argument("--quick", action="store_true", help="a few seconds, to see that it still works")
    parser.add_argument("--json", help="also write the raw figures here")
    args = parser.parse_args(argv)
    given = {f.name: getattr(args, f.name) for f in options if getattr(args, f.name) is not None}
    database = given.pop("database", None) or getattr(kind, "database", "sqlite")
    results = [run(configure(kind, quick=args.quick, **given, database=one))
               for one in (DATABASES if database == "both" else (database,))]
    print(report.section(name, results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=str))
    return 0


def database_field(default: str = "sqlite") -> Any:
    return field(default=default, metadata={"choices": (*DATABASES, "both")})
