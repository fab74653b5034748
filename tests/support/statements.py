"""Count the SQL statements a piece of the product sends, so a hot path's cost can't creep back unnoticed.

    with statements(app[ENGINE]) as sent:
        ...
    assert len(sent.of("payment_requests", "SELECT")) == 1

Every statement the engine sends is kept, in order, with BEGIN / COMMIT / ROLLBACK left out (they are a
transaction's, not a statement's); savepoints count, as each is a statement SQLite runs."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

_TABLE = re.compile(r"\b(?:FROM|INTO|UPDATE|JOIN)\s+\"?(\w+)", re.IGNORECASE)


@dataclass
class Sent:
    statements: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.statements)

    def of(self, table: str, verb: str | None = None) -> list[str]:
        """The statements that touch ``table`` (in FROM, INTO, UPDATE or JOIN), optionally only one verb's."""
        return [
            s
            for s in self.statements
            if table in _TABLE.findall(s) and (verb is None or s.lstrip().upper().startswith(verb.upper()))
        ]

    def shape(self) -> list[tuple[str, str]]:
        """Each statement as (verb, the first table it names): what a test can compare at a glance."""
        return [(s.split(None, 1)[0].upper(), next(iter(_TABLE.findall(s)), "")) for s in self.statements]

    def __str__(self) -> str:
        return "\n".join(f"{n + 1:3}. {' '.join(s.split())[:160]}" for n, s in enumerate(self.statements))


@contextmanager
def statements(engine: AsyncEngine) -> Iterator[Sent]:
    sent = Sent()

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        sent.statements.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)
