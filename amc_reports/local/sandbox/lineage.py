"""Where a column a query reads comes from: a table's column, or a column of one of the query's
own relations (a CTE, a subquery, a LATERAL VIEW), followed through sqlglot's scopes.

Two checks of the engine follow columns this way: whether an output carries user ids gathered
from many rows (`coverage`), and whether a compared value is a string (`functions`). A CTE is
found by its name whatever the case it is read in (sqlglot's scopes match the case exactly).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlglot import exp
from sqlglot.optimizer.scope import Scope, build_scope

T = TypeVar("T")


class Lineage:
    def __init__(self, query: exp.Expression) -> None:
        root = build_scope(query)
        self.root = root
        self.scopes: dict[int, Scope] = (
            {id(s.expression): s for s in root.traverse()} if root else {}
        )
        self.ctes = {
            cte.alias_or_name.lower(): self.scopes[id(cte.this)]
            for cte in query.find_all(exp.CTE)
            if id(cte.this) in self.scopes
        }
        self._memo: dict[tuple[int, str], Any] = {}

    def sources(self, column: exp.Column, scope: Scope) -> list[Any]:
        """The relations ``column`` may come from: its qualifier's, else each one its SELECT
        reads (an `exp.Table` of the database, a `Scope` of the query's own, or other)."""
        selected = scope.selected_sources
        if column.table:
            found = [selected[column.table][1]] if column.table in selected else []
        else:
            found = [source for _, source in selected.values()]
        return [self.resolve(source) for source in found]

    def resolve(self, source: Any) -> Any:
        """A relation read by name that is one of the query's CTEs: its scope."""
        if isinstance(source, exp.Table) and not source.args.get("db"):
            return self.ctes.get(source.name.lower(), source)
        return source

    def follow(self, source: Scope, name: str, work_out: Callable[[], T], cycle: T) -> T:
        """``work_out()``, what the column ``name`` of ``source`` is, once per relation and
        column (one `Lineage` answers one question); ``cycle`` while it is being worked out (a
        recursive CTE reads itself)."""
        key = (id(source), name)
        if key not in self._memo:
            self._memo[key] = cycle
            self._memo[key] = work_out()
        return self._memo[key]


def leaf_selects(node: exp.Expression) -> list[exp.Select]:
    """The SELECTs whose rows ``node`` (a query, possibly a UNION of them) returns."""
    if isinstance(node, exp.Subquery):
        return leaf_selects(node.this)
    if isinstance(node, exp.SetOperation):
        return leaf_selects(node.left) + leaf_selects(node.right)
    return [node] if isinstance(node, exp.Select) else []
