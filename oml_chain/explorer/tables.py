"""Sortable, paginated tables shared by the HTML pages and the JSON API.

Every table reads `sort`, `dir`, `page` and `per_page` from the query string; a page's first table uses those
names as they are, the others prefix them with their id (`hosts_sort`, `hosts_page`, ...), so one URL can
hold the state of every table on a page. A bad value is a `BadRequest` (400 on both the page and the API).

A table's rows come from a list (sorted and sliced here) or from an `EventSource` (sorted and sliced by
SQLite, for lists of events that can be long). Each column has a kind that says how a value is shown:
wei (as ETH / gwei / wei), addr (shortened, with a copy button), hash, time (UTC), bps, shares, int, text...
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

MAX_PER_PAGE = 200
DEFAULT_PER_PAGE = 50


class BadRequest(ValueError):
    """A malformed parameter (400 bad_request)."""


class NotFound(LookupError):
    """An unknown id or address (404 not_found)."""


class Wei(int):
    """An amount in wei: shown with units on pages, a decimal string in the API (exact beyond 2**53)."""


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    kind: str = "text"  # wei, addr, hash, time, bps, shares, int, text, bool, model, duration
    link: Callable[[dict], str | None] | None = None
    sortable: bool = True
    sql: str | None = None  # the events column an EventSource sorts this by


@dataclass
class EventSource:
    """Rows from `Queries.events(**filters)`, one per event, mapped by `row`."""

    queries: Any
    filters: Mapping[str, Any]
    row: Callable[[Any], dict]

    def total(self) -> int:
        return self.queries.count(**self.filters)

    def fetch(self, order: str, limit: int, offset: int) -> list[dict]:
        return [self.row(e) for e in self.queries.events(**self.filters, order=order, limit=limit, offset=offset)]


@dataclass
class Table:
    id: str
    title: str
    columns: Sequence[Column]
    source: list[dict] | EventSource
    default_sort: str
    default_dir: str = "desc"
    primary: bool = False
    note: str = ""
    # filled by `apply`
    rows: list[dict] = field(default_factory=list)
    total: int = 0
    page: int = 1
    per_page: int = DEFAULT_PER_PAGE
    sort: str = ""
    dir: str = "desc"
    prefix: str = ""

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    def param(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def apply(self, query: Mapping[str, str]) -> Table:
        self.prefix = "" if self.primary else f"{self.id}_"
        sortable = {c.key for c in self.columns if c.sortable}
        self.sort = query.get(self.param("sort"), self.default_sort)
        if self.sort not in sortable:
            raise BadRequest(f"{self.param('sort')}={self.sort!r} is not a column of the {self.id} table; "
                             f"use one of {', '.join(sorted(sortable))}")
        self.dir = query.get(self.param("dir"), self.default_dir if self.sort == self.default_sort else "asc")
        if self.dir not in ("asc", "desc"):
            raise BadRequest(f"{self.param('dir')} must be asc or desc, got {self.dir!r}")
        self.page = _positive(query, self.param("page"), 1)
        self.per_page = _positive(query, self.param("per_page"), DEFAULT_PER_PAGE)
        if self.per_page > MAX_PER_PAGE:
            raise BadRequest(f"{self.param('per_page')} must be at most {MAX_PER_PAGE}, got {self.per_page}")
        offset = (self.page - 1) * self.per_page
        if isinstance(self.source, EventSource):
            col = next(c for c in self.columns if c.key == self.sort)
            order = f"{col.sql or col.key} {self.dir.upper()}, log_index {self.dir.upper()}"
            if (col.sql or col.key) == "block":
                order = f"block {self.dir.upper()}, log_index {self.dir.upper()}"
            elif (col.sql or col.key) != "id":
                order += f", block {self.dir.upper()}"
            self.total = self.source.total()
            self.rows = self.source.fetch(_dedupe(order), self.per_page, offset)
        else:
            rows = sorted(self.source, key=lambda r: _sort_key(r.get(self.sort)), reverse=self.dir == "desc")
            self.total = len(rows)
            self.rows = rows[offset:offset + self.per_page]
        return self

    def to_json(self) -> dict:
        return {"id": self.id, "total": self.total, "page": self.page, "per_page": self.per_page, "pages": self.pages,
                "sort": self.sort, "dir": self.dir,
                "rows": [{c.key: jsonable(r.get(c.key), c.kind) for c in self.columns} | _extra(r, self.columns)
                         for r in self.rows]}


def _extra(row: dict, columns: Sequence[Column]) -> dict:
    keys = {c.key for c in columns}
    return {k: jsonable(v) for k, v in row.items() if k not in keys and not k.startswith("_")}


def _dedupe(order: str) -> str:
    seen, out = set(), []
    for term in order.split(","):
        col = term.split()[0]
        if col not in seen:
            seen.add(col)
            out.append(term.strip())
    return ", ".join(out)


def _positive(query: Mapping[str, str], name: str, default: int) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be a whole number, got {raw!r}") from None
    if value < 1:
        raise BadRequest(f"{name} must be at least 1, got {value}")
    return value


def _sort_key(v: Any) -> tuple:
    if v is None:
        return (0, 0, "")
    if isinstance(v, bool):
        return (1, int(v), "")
    if isinstance(v, (int, float)):
        return (1, v, "")
    return (2, 0, str(v).lower())


def jsonable(v: Any, kind: str = "") -> Any:
    """A value for the JSON API: wei (and any int past 2**53) as a decimal string; containers recursively."""
    if isinstance(v, Wei) or (kind == "wei" and isinstance(v, int) and not isinstance(v, bool)):
        return str(int(v))
    if isinstance(v, bool) or v is None or isinstance(v, (str, float)):
        return v
    if isinstance(v, int):
        return str(v) if abs(v) > 2**53 else v
    if isinstance(v, Table):
        return v.to_json()
    if isinstance(v, Mapping):
        return {str(k): jsonable(x) for k, x in v.items() if not str(k).startswith("_")}
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    return str(v)
