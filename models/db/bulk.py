"""Writing many rows of one table in one go, for the paths that write hundreds per batch
(planning, intake). Core's executemany runs every value through its column type's bind processing
and builds a parameter dict per row — at this scale that costs more than the database's own
work. Here each column's processor (the very one Core would use: the type's, a
TypeDecorator's included) runs once per distinct value, and the rows reach the driver as
plain sequences: on SQLite one prepared statement run per row (no round trip), on PostgreSQL
one statement for the whole batch over `unnest` of one array per column (one round trip,
not one per row). `one_of` binds a list of ids or keys as one parameter."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import (
    BindParameter,
    Boolean,
    Column,
    ColumnElement,
    Connection,
    Table,
    Text,
    bindparam,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.selectable import TableValuedAlias
from sqlalchemy.sql.visitors import InternalTraversal
from sqlalchemy.types import TypeDecorator, TypeEngine

Processor = Callable[[Any], Any]


def insert_rows(session: Session, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """INSERT `rows` (dicts with the same keys, as Core's executemany takes them) into
    `table`; a column left out gets its scalar Python default, as with Core."""
    if not rows:
        return
    given = list(rows[0])
    defaults = {column.name: column.default.arg for column in table.columns  # type: ignore[union-attr]
                if column.name not in rows[0] and column.default is not None
                and column.default.is_scalar}
    missing = [column.name for column in table.columns
               if column.name not in rows[0] and column.default is not None
               and not column.default.is_scalar]
    if missing:
        raise ValueError(f"insert_rows into {table.name}: give {', '.join(missing)} "
                         "(their defaults are not scalar)")
    columns = [table.c[name] for name in (*given, *defaults)]
    connection = _connection(session)
    dialect = connection.dialect
    values = _columns_of(dialect, columns, [[row[name] for row in rows] for name in given]
                         + [[value] * len(rows) for value in defaults.values()])
    quote = dialect.identifier_preparer.quote
    names = ", ".join(quote(column.name) for column in columns)
    if dialect.name == "postgresql":
        connection.exec_driver_sql(
            f"INSERT INTO {quote(table.name)} ({names}) SELECT * FROM "
            f"unnest({_arrays(dialect, columns)})", tuple(values))
    else:
        marks = ", ".join("?" for _ in columns)
        connection.exec_driver_sql(f"INSERT INTO {quote(table.name)} ({names}) VALUES ({marks})",
                                   list(zip(*values)))


def update_rows(session: Session, table: Table, *, key: str, columns: Sequence[str],
                rows: Sequence[Sequence[Any]]) -> None:
    """UPDATE the rows of `table` whose `key` column is each row's first value, setting
    `columns` to the rest of its values."""
    if not rows:
        return
    targets = [table.c[key], *(table.c[name] for name in columns)]
    connection = _connection(session)
    dialect = connection.dialect
    values = _columns_of(dialect, targets, [list(column) for column in zip(*rows)])
    quote = dialect.identifier_preparer.quote
    if dialect.name == "postgresql":
        aliases = [f"c{i}" for i in range(len(targets))]
        assignments = ", ".join(f"{quote(column.name)} = v.{alias}"
                                for column, alias in zip(targets[1:], aliases[1:]))
        connection.exec_driver_sql(
            f"UPDATE {quote(table.name)} SET {assignments} FROM unnest("
            f"{_arrays(dialect, targets)}) AS v({', '.join(aliases)}) "
            f"WHERE {quote(table.name)}.{quote(key)} = v.{aliases[0]}", tuple(values))
    else:
        assignments = ", ".join(f"{quote(column.name)} = ?" for column in targets[1:])
        connection.exec_driver_sql(
            f"UPDATE {quote(table.name)} SET {assignments} WHERE {quote(key)} = ?",
            [(*row[1:], row[0]) for row in zip(*values)])


def _connection(session: Session) -> Connection:
    session.flush()  # what Session.execute would have flushed first
    return session.connection()


def _columns_of(dialect: Dialect, columns: Sequence[Column[Any]],
                values: Sequence[list[Any]]) -> list[list[Any]]:
    """Each column's values as the driver takes them."""
    return [_processed(_processor(dialect, column), column_values)
            for column, column_values in zip(columns, values, strict=True)]


def _processor(dialect: Dialect, column: Column[Any]) -> Processor | None:
    return column.type.dialect_impl(dialect).bind_processor(dialect)


def _processed(process: Processor | None, values: list[Any]) -> list[Any]:
    """`values` through `process`, once per distinct value: a batch repeats its instants,
    roles and statuses many times, and the processors are pure."""
    if process is None:
        return values
    done: dict[Any, Any] = {}
    out = []
    for value in values:
        try:
            out.append(done[value])
        except KeyError:
            out.append(done.setdefault(value, process(value)))
        except TypeError:  # not hashable (a JSON document): processed every time
            out.append(process(value))
    return out


def _arrays(dialect: Dialect, columns: Sequence[Column[Any]]) -> str:
    """`%s::TYPE[], …`: one array parameter per column, typed as the column is."""
    compile_type = dialect.type_compiler_instance.process
    return ", ".join(f"%s::{compile_type(column.type.dialect_impl(dialect))}[]"
                     for column in columns)


class _ValueList(TypeDecorator[Sequence[Any]]):
    """A list of ids or keys bound as ONE parameter: a PostgreSQL array, or on SQLite a JSON
    array that `json_each` reads (ints and strings only: they need no conversion)."""

    impl = Text
    cache_ok = True

    def __init__(self, element: TypeEngine[Any]) -> None:
        super().__init__()
        self.element = element

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(ARRAY(self.element))
        return dialect.type_descriptor(Text())

    def process_bind_param(self, value: Sequence[Any] | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        return list(value) if dialect.name == "postgresql" else json.dumps(list(value))


class _OneOf(ColumnElement[bool]):
    """`column` is one of the values bound as `values` (see `one_of`)."""

    inherit_cache = True
    type = Boolean()
    _is_implicitly_boolean = True  # a condition itself: not rendered as `… = 1` on SQLite
    _traverse_internals = [("column", InternalTraversal.dp_clauseelement),
                           ("values", InternalTraversal.dp_clauseelement)]

    def __init__(self, column: ColumnElement[Any], values: BindParameter[Any]) -> None:
        self.column, self.values = column, values


@compiles(_OneOf)
def _one_of_sqlite(element: _OneOf, compiler: Any, **kw: Any) -> str:
    return (f"{compiler.process(element.column, **kw)} IN "
            f"(SELECT value FROM json_each({compiler.process(element.values, **kw)}))")


@compiles(_OneOf, "postgresql")
def _one_of_postgresql(element: _OneOf, compiler: Any, **kw: Any) -> str:
    return f"{compiler.process(element.column, **kw)} = ANY({compiler.process(element.values, **kw)})"


def one_of(column: ColumnElement[Any], name: str) -> ColumnElement[bool]:
    """`column IN (…)` for a list of ids or keys bound under `name` as one parameter, not one
    per value: the statement's text does not change with the list's length, so it is built
    and planned once (an expanding IN is rendered anew for every list: with hundreds of ids
    per batch that cost more than running it). `= ANY(:name)` on PostgreSQL; on SQLite
    `IN (SELECT value FROM json_each(:name))`."""
    return _OneOf(column, bindparam(name, type_=_ValueList(column.type)))


def rows_of(name: str, *, type_: TypeEngine[Any]) -> TableValuedAlias:
    """SQLite: the list bound under `name` as rows (`json_each(:name) AS ids`, column `value`)
    to join a table to. With `one_of`'s `IN (SELECT …)` SQLite plans as if the list were
    long and prefers any other index of an equality condition; joined, it looks each value up
    (a partial index included). PostgreSQL plans `= ANY` by its statistics: use `one_of`."""
    return func.json_each(bindparam(name, type_=_ValueList(type_))).table_valued("value").alias("ids")
