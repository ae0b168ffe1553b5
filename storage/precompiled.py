"""The acks' own statements run on the driver's cursor, compiled once, on PostgreSQL.

A flag, a decision, a Claim's read and `/recovery list` each run one statement inside the
ack, and SQLAlchemy's way to its cursor (the compiled cache's key, each parameter looked up
and processed in turn, an execution context, a result built) cost a flag more CPU than
psycopg and the round trip together: a flag's statement took 530 us of the thread's CPU
through `Connection.execute` against 370 us on the cursor (medians of thirty interleaved
runs of fifty against a throwaway PostgreSQL, issue 17). Here a statement is compiled once per dialect to its SQL and, for
each parameter, its rendered name and its type's bind processor; each run applies those,
executes on the connection's own cursor, and applies the columns' result processors, so
the values are those `Connection.execute` gives. What the execution path does besides stays:
the engine's cursor events run (the single-statement guard, tests' hooks), and a driver
error goes through SQLAlchemy's handling (wrapped as ever, a dropped connection invalidated).
SQLite keeps `Connection.execute`: it has no round trip to weigh this against, and its
writes are ordered by storage/db.py's own hooks.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import Select
from sqlalchemy.types import TypeEngine

Processor = Callable[[Any], Any] | None


@dataclass(slots=True)
class _Compiled:
    sql: str
    binds: tuple[tuple[str, bool, Any, Processor], ...]  # rendered name, required, value compiled in, processor
    keys: tuple[str, ...]
    types: tuple[TypeEngine, ...]
    results: tuple[Processor, ...] | None = None  # once a result says its columns' types


# A handful of entries: the acks' statements are module constants or built by cached factories.
_COMPILED: dict[tuple[int, str], tuple[Select, _Compiled]] = {}


def rows(connection: Connection, statement: Select, params: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The rows of ``statement`` as mappings by column key, as `Connection.execute` gives them."""
    if connection.dialect.name != "postgresql":
        return [row._mapping for row in connection.execute(statement, params)]
    compiled = _compiled(statement, connection.dialect)
    values = {}
    for name, required, value, process in compiled.binds:
        if name in params:
            value = params[name]
        elif required:
            raise KeyError(f"no value for the parameter {name!r}")
        values[name] = value if process is None else process(value)
    fetched, type_codes = _execute(connection, compiled.sql, values)
    if not fetched:
        return []
    if compiled.results is None:
        compiled.results = tuple(type_.dialect_impl(connection.dialect).result_processor(connection.dialect, code)
                                 for type_, code in zip(compiled.types, type_codes))
    keys, results = compiled.keys, compiled.results
    return [dict(zip(keys, [value if process is None else process(value) for value, process in zip(row, results)]))
            for row in fetched]


def first(connection: Connection, statement: Select, params: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The first row of ``statement``, or None."""
    found = rows(connection, statement, params)
    return found[0] if found else None


def _execute(connection: Connection, sql: str, values: dict[str, Any]) -> tuple[list[tuple], list[int]]:
    """The rows, and their columns' type codes."""
    cursor = connection.connection.cursor()
    hooked = connection._has_events or connection.engine._has_events  # noqa: SLF001 - as Connection does
    try:
        if hooked:
            for before in connection.dispatch.before_cursor_execute:
                sql, values = before(connection, cursor, sql, values, None, False)
        cursor.execute(sql, values)
        if hooked:
            connection.dispatch.after_cursor_execute(connection, cursor, sql, values, None, False)
        result = cursor.pgresult
        if result is None or not result.nfields:
            return [], []
        return cursor.fetchall(), [result.ftype(index) for index in range(result.nfields)]
    except BaseException as error:  # noqa: BLE001 - re-raised, wrapped, as Connection.execute would
        connection._handle_dbapi_exception(error, sql, values, cursor, None)  # noqa: SLF001
        raise
    finally:
        cursor.close()


def _compiled(statement: Select, dialect: Dialect) -> _Compiled:
    key = (id(statement), dialect.name)
    cached = _COMPILED.get(key)
    if cached is not None and cached[0] is statement:
        return cached[1]
    compiled = statement.compile(dialect=dialect)
    if compiled.positiontup or compiled.literal_execute_params or compiled.post_compile_params:
        raise ValueError("precompiled takes named parameters rendered once, not this statement")
    binds = {name: (name, bind.required, bind.effective_value, bind.type.dialect_impl(dialect).bind_processor(dialect))
             for bind, name in compiled.bind_names.items()}  # one entry a name: a parameter used twice is one value
    columns = list(statement.selected_columns)
    made = _Compiled(sql=compiled.string, binds=tuple(binds.values()), keys=tuple(column.key for column in columns),
                     types=tuple(column.type for column in columns))
    _COMPILED[key] = (statement, made)  # the statement is kept, so its id is never another's
    return made
