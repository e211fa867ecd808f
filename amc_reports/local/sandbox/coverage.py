"""Which users each result row covers, and how many it must: AMC's aggregation threshold.

AMC drops (or, when the workflow asks, blanks and marks) every output row that covers fewer
distinct users than the query's columns require (`required_users`: 2 for LOW columns, 100 for
MEDIUM and HIGH ones, AMC's documented levels, which `amc_schema.yaml` records). To know how
many users a row covers, the query is rewritten so that every relation it reads carries one
hidden column, ``__amc_users``:

- a base table contributes its ``user_id``;
- a SELECT that aggregates collects the distinct users of its groups (``list(DISTINCT user_id)``,
  or the union of its inputs' lists), one that does not passes its input's users through; a join
  unites the users of both sides;
- the outermost SELECT turns that into a count, the last column of the result, which the engine
  compares with the threshold and then removes.

Subqueries and CTEs in FROM and JOIN positions are rewritten the same way (a CTE once, however
often it is read); scalar and IN subqueries do not produce rows and are left alone. What the
rewrite cannot follow raises `CoverageUnsupported` and the query is refused.

The threshold only asks whether a row covers *enough* users, so the lists can be cut: with
``enough=N`` every list a relation hands on keeps at most N distinct users. A cut list still holds
N, so a row's count is exact below N and at least N otherwise (the threshold's answer is the same
for any threshold up to N), and a join of two small CTEs with thousands of users per row no longer
multiplies those lists (AMC's own instructional queries do that). Without ``enough`` the count is
exact (what a workflow's ``distinctUserCountColumn`` reports).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.optimizer.scope import Scope

from amc_reports.amc_sql import is_aggregate
from amc_reports.local.sandbox.lineage import Lineage, leaf_selects

HIDDEN = "__amc_users"
DIALECT = "duckdb"


# What AMC's validation says of a query whose rows' users the rewrite cannot follow: such a
# query is refused, never run without the threshold.
UNSUPPORTED_MESSAGE = (
    "the aggregation threshold cannot be applied to {what}: "
    "the users each output row covers cannot be determined"
)


class CoverageUnsupported(Exception):
    """The query has a shape the user-coverage rewrite does not follow (the query is refused)."""


@dataclass(frozen=True)
class _Users:
    kind: str  # "scalar" (one user id per row), "list" (a list of user ids) or "none"
    expr: exp.Expression | None = None


def _fn(name: str, *args: exp.Expression) -> exp.Expression:
    return exp.Anonymous(this=name, expressions=list(args))


def _empty_list() -> exp.Expression:
    return sqlglot.parse_one("CAST([] AS VARCHAR[])", read=DIALECT)


def _column(name: str, table: str | None) -> exp.Column:
    return exp.column(name, table=table, quoted=False)


class _Rewriter:
    def __init__(self, query: exp.Query, user_tables: frozenset[str], enough: int | None) -> None:
        self.user_tables = user_tables
        self.enough = enough
        self.ctes: dict[str, exp.CTE] = {}
        for cte in query.find_all(exp.CTE):
            self.ctes.setdefault(cte.alias_or_name.lower(), cte)
        self.done: set[str] = set()
        self.aliases = 0

    def query(self, node: exp.Expression, *, final: bool) -> exp.Expression:
        """Rewrite ``node`` in place; returns the node that takes its place (usually itself)."""
        if isinstance(node, exp.Subquery):
            node.set("this", self.query(node.this, final=final))
        elif isinstance(node, exp.SetOperation):
            node.set("this", self.query(node.left, final=final))
            node.set("expression", self.query(node.right, final=final))
        elif isinstance(node, exp.Select):
            return self.select(node, final=final)
        else:
            raise CoverageUnsupported(f"cannot follow users through {node.key}")
        return node

    def select(self, select: exp.Select, *, final: bool) -> exp.Expression:
        relations = []
        from_ = select.args.get("from_")
        if from_ is not None:
            relations.append(from_.this)
        relations.extend(join.this for join in select.args.get("joins") or [])
        # LATERAL VIEW explode(...) adds rows of the row it explodes: its users, no others.
        found = [self.relation(r) for r in relations]
        users = _combine([u for u in found if u.kind != "none"], self.enough)
        carriers = {
            relation.alias_or_name.lower()
            for relation, u in zip(relations, found, strict=True)
            if u.kind == "list"
        }
        if carriers:
            _exclude_hidden_from_stars(select, carriers)
        aggregated = is_aggregate(select)
        distinct = select.args.get("distinct")
        if distinct is not None and distinct.args.get("on") is None and not aggregated:
            return self._distinct(select, users, final=final)
        # DISTINCT ON keeps one whole input row per key: the users of that row.
        hidden = _hidden(users, aggregated, final, self.enough)
        select.append("expressions", exp.alias_(hidden, HIDDEN))
        return select

    def _distinct(self, select: exp.Select, users: _Users, *, final: bool) -> exp.Expression:
        """Rows that DISTINCT merges are one group: the users of the rows it merges add up.

        ``SELECT DISTINCT x ... ORDER BY o LIMIT n`` becomes ``SELECT * EXCLUDE (users),
        merged users FROM (SELECT x, row users ...) GROUP BY ALL ORDER BY o LIMIT n``.
        """
        select.set("distinct", None)
        moved = {key: select.args.get(key) for key in ("order", "limit", "offset")}
        for key in moved:
            select.set(key, None)
        select.append("expressions", exp.alias_(_hidden(users, False, False, self.enough), HIDDEN))
        merged = _hidden(_Users("list", exp.column(HIDDEN)), True, final, self.enough)
        merged = merged.sql(dialect=DIALECT)
        self.aliases += 1
        wrapper = sqlglot.parse_one(
            f"SELECT * EXCLUDE ({HIDDEN}), {merged} AS {HIDDEN} "
            f"FROM (SELECT 1) AS __amc_d{self.aliases} GROUP BY ALL",
            read=DIALECT,
        )
        wrapper.args["from_"].this.set("this", select)
        for key, value in moved.items():
            if value is not None:
                wrapper.set(key, value)
        return wrapper

    def relation(self, node: exp.Expression) -> _Users:
        if isinstance(node, exp.Table):
            name = node.name.lower()
            reference = node.alias_or_name
            if not node.args.get("db") and name in self.ctes:
                if name not in self.done:
                    self.done.add(name)
                    cte = self.ctes[name]
                    cte.set("this", self.query(cte.this, final=False))
                return _Users("list", _column(HIDDEN, reference))
            if name in self.user_tables:
                return _Users("scalar", _column("user_id", reference))
            return _Users("none")
        if isinstance(node, exp.Subquery):
            if not node.alias:
                self.aliases += 1
                node.set("alias", exp.TableAlias(this=exp.to_identifier(f"__amc_s{self.aliases}")))
            node.set("this", self.query(node.this, final=False))
            return _Users("list", _column(HIDDEN, node.alias))
        return _Users("none")  # UNNEST, VALUES, table functions: no users of their own


def _cut(users: exp.Expression, enough: int | None) -> exp.Expression:
    """At most ``enough`` distinct users of a list (``users`` must already be distinct)."""
    if enough is None:
        return users
    return _fn("list_slice", users, exp.Literal.number(1), exp.Literal.number(enough))


def _combine(users: list[_Users], enough: int | None) -> _Users:
    if not users:
        return _Users("none")
    if len(users) == 1:
        return users[0]
    lists = [
        _fn("list_value", u.expr)
        if u.kind == "scalar"
        else exp.func("coalesce", u.expr, _empty_list())
        for u in users
        if u.expr is not None
    ]
    combined = lists[0]
    for other in lists[1:]:
        combined = _fn("list_concat", combined, other)
    if enough is not None:
        combined = _cut(_fn("list_distinct", combined), enough)
    return _Users("list", combined)


def _hidden(users: _Users, aggregated: bool, final: bool, enough: int | None) -> exp.Expression:
    if users.kind == "none" or users.expr is None:
        return exp.Literal.number(0) if final else _empty_list()
    expr = users.expr
    if aggregated:
        if users.kind == "scalar":
            if final:
                return exp.Count(this=exp.Distinct(expressions=[expr.copy()]))
            return _cut(_fn("list", exp.Distinct(expressions=[expr.copy()])), enough)
        merged = _fn("list_distinct", _fn("flatten", _fn("list", expr.copy())))
        return _fn("len", merged) if final else _cut(merged, enough)
    if users.kind == "scalar":
        if final:
            return exp.Case(
                ifs=[
                    exp.If(
                        this=exp.Is(this=expr.copy(), expression=exp.Null()),
                        true=exp.Literal.number(0),
                    )
                ],
                default=exp.Literal.number(1),
            )
        return _fn("list_value", expr.copy())
    return _fn("len", _fn("list_distinct", expr.copy())) if final else expr.copy()


def _exclude_hidden_from_stars(select: exp.Select, carriers: set[str]) -> None:
    """``*`` (and ``t.*`` of a relation carrying users) must not select the hidden column."""
    for projection in select.expressions:
        star = projection.this if isinstance(projection, exp.Column) else projection
        if isinstance(projection, exp.Column) and projection.table.lower() not in carriers:
            continue
        if isinstance(star, exp.Star):
            excluded = list(star.args.get("except_") or [])
            excluded.append(exp.column(HIDDEN))
            star.set("except_", excluded)


def track_users(
    query: exp.Query, user_tables: frozenset[str], *, enough: int | None = None
) -> exp.Query:
    """A copy of ``query`` whose result has one more, last column: the users each row covers
    (exact, or with ``enough``: exact below it and at least ``enough`` otherwise)."""
    rewritten = query.copy()
    result = _Rewriter(rewritten, user_tables, enough).query(rewritten, final=True)
    if result is not rewritten and rewritten.args.get("with_") is not None:
        result.set("with_", rewritten.args["with_"])  # the WITH clause stays outermost
        rewritten.set("with_", None)
    return result


def dimension_columns(query: exp.Query) -> list[bool]:
    """Per output column of ``query``: whether it is a dimension (a GROUP BY key), not a metric.

    A query that does not aggregate has only dimensions.
    """
    select = query
    while isinstance(select, exp.SetOperation | exp.Subquery):
        select = select.left if isinstance(select, exp.SetOperation) else select.this
    if not isinstance(select, exp.Select):
        return []
    if not is_aggregate(select):
        return [True] * len(select.expressions)
    group = select.args.get("group")
    keys = list(group.expressions) if group is not None else []
    ordinals = {int(k.name) for k in keys if isinstance(k, exp.Literal) and k.is_int}
    key_sql = {k.sql(dialect="spark").lower() for k in keys}
    out = []
    for i, projection in enumerate(select.expressions):
        inner = projection.this if isinstance(projection, exp.Alias) else projection
        out.append(
            (i + 1) in ordinals
            or inner.sql(dialect="spark").lower() in key_sql
            or projection.alias_or_name.lower() in key_sql
        )
    return out


# -- how many users a row must cover ---------------------------------------------------------------

# AMC's aggregation threshold levels (its "Data aggregation thresholds" page): the distinct users a
# row must cover for a value of a column of that level to be output. VERY_HIGH and INTERNAL
# columns are never output: a query may read them only to drop them or count them (COUNT,
# COUNT(DISTINCT ...)). Any other level (VERY_HIGH or INTERNAL read otherwise, "-" where the
# documentation gives none, anything unknown) asks for the strictest count.
MIN_USERS = {"NONE": 1, "LOW": 2, "MEDIUM": 100, "HIGH": 100}
STRICTEST = max(MIN_USERS.values())
COUNTED_ONLY = frozenset({"VERY_HIGH", "INTERNAL"})


def required_users(
    query: exp.Query, columns: Mapping[str, Mapping[str, str]], *, reads_users: bool
) -> int:
    """The distinct users each output row of ``query`` must cover: the strictest level of the
    table columns it reads (``columns``: each table it reads, its columns' levels), wherever
    it reads them. A query that reads no table of users (``reads_users``) outputs no user's
    data: no minimum. One reading no column (``COUNT(*)``) gets the strictest count.
    """
    if not reads_users:
        return 0
    levels = _read_levels(query, columns)
    return max((MIN_USERS.get(level, STRICTEST) for level in levels), default=STRICTEST)


def _read_levels(query: exp.Query, columns: Mapping[str, Mapping[str, str]]) -> list[str]:
    """The levels of the table columns ``query`` names, by name (a CTE's column of the same
    name counts too: stricter, never laxer); ``*`` reads every column of every table."""
    levels: list[str] = []
    for node in query.find_all(exp.Column, exp.Star):
        if isinstance(node, exp.Star):
            if not isinstance(node.parent, exp.Count):  # COUNT(*) reads no column
                levels.extend(level for table in columns.values() for level in table.values())
            continue
        name = node.name.lower()
        for table in columns.values():
            level = table.get(name)
            if level is not None and not (level in COUNTED_ONLY and _counted(node)):
                levels.append(level)
    return levels


def output_users(query: exp.Query, columns: Mapping[str, Mapping[str, str]]) -> list[int]:
    """Per output column of ``query``: the users a row must cover to show its value (a row under
    the query's threshold, kept by ``filteredMetricsDiscriminatorColumn``, shows only those its
    users allow): the strictest level of the table columns it derives from, followed through
    CTEs and subqueries. What cannot be followed (``*``, a LATERAL VIEW's column) is strictest.
    """
    lineage = Lineage(query)
    needs: list[int] = []
    for leaf in leaf_selects(query):
        scope = lineage.scopes.get(id(leaf))
        for i, projection in enumerate(leaf.expressions):
            levels = _derived_levels(projection, scope, lineage, columns) if scope else ["-"]
            need = max((MIN_USERS.get(level, STRICTEST) for level in levels), default=0)
            if i < len(needs):
                needs[i] = max(needs[i], need)
            else:
                needs.append(need)
    return needs


def _derived_levels(
    node: exp.Expression,
    scope: Scope,
    lineage: Lineage,
    columns: Mapping[str, Mapping[str, str]],
) -> list[str]:
    """The levels of the table columns ``node`` (an expression of ``scope``) derives from."""
    if isinstance(node, exp.Star) or isinstance(getattr(node, "this", None), exp.Star):
        return ["-"]
    levels: list[str] = []
    for column in node.find_all(exp.Column):
        if _partitions_or_orders(column, node):
            continue  # ROW_NUMBER() OVER (PARTITION BY user_id ...) holds no user id
        if isinstance(column.this, exp.Star):
            levels.append("-")
            continue
        name = column.name.lower()
        found: list[str] = []
        sources = lineage.sources(column, scope)
        for source in sources:
            if isinstance(source, exp.Table):
                level = columns.get(source.name.lower(), {}).get(name)
                found.extend([level] if level is not None else [])
            elif isinstance(source, Scope) and isinstance(source.expression, exp.Query):
                found.extend(
                    lineage.follow(
                        source,
                        name,
                        lambda s=source, n=name: _scope_levels(s, n, lineage, columns),
                        [],
                    )
                )
            else:
                found.append("-")
        if not found:  # no relation of its scope has it (an alias, an unknown relation)
            found.append("-")
        if _counted(column):
            found = [level for level in found if level not in COUNTED_ONLY]
        levels.extend(found)
    return levels


def _scope_levels(
    source: Scope, name: str, lineage: Lineage, columns: Mapping[str, Mapping[str, str]]
) -> list[str]:
    levels: list[str] = []
    for leaf in leaf_selects(source.expression):
        leaf_scope = lineage.scopes.get(id(leaf))
        named = [n.lower() for n in leaf.named_selects]
        if leaf_scope is None or name not in named or len(named) != len(leaf.expressions):
            levels.append("-")  # a star, or a column it does not name: strictest
            continue
        projection = leaf.expressions[named.index(name)]
        levels.extend(_derived_levels(projection, leaf_scope, lineage, columns))
    return levels


# HIGH and VERY_HIGH columns take no filter of literal values (AMC rejects the query): a
# comparison of one (or of what derives from it) with a literal or a parameter's value.
NO_LITERAL_FILTERS = frozenset({"HIGH", "VERY_HIGH"})
LITERAL_FILTER_MESSAGE = (
    "column {name!r} has the aggregation threshold {level}: it cannot be compared with literal "
    "values (AMC rejects filters with literal values on HIGH and VERY_HIGH columns)"
)
_COMPARISONS = (
    exp.EQ,
    exp.NEQ,
    exp.NullSafeEQ,
    exp.NullSafeNEQ,
    exp.GT,
    exp.GTE,
    exp.LT,
    exp.LTE,
    exp.In,
    exp.Like,
    exp.ILike,
    exp.Between,
    exp.RegexpLike,
    exp.SimilarTo,
)


def literal_filters(
    query: exp.Query, columns: Mapping[str, Mapping[str, str]]
) -> list[tuple[exp.Column, str]]:
    """The HIGH / VERY_HIGH columns (and their levels) ``query`` compares with literal values;
    a count of them (``COUNT(DISTINCT user_id) > 100``) is no value of theirs."""
    lineage = Lineage(query)
    found: list[tuple[exp.Column, str]] = []
    for comparison in query.find_all(*_COMPARISONS):
        own = [n for n in comparison.find_all(exp.Literal, exp.Column) if _own(n, comparison)]
        if not any(isinstance(n, exp.Literal) for n in own):
            continue
        select = comparison.find_ancestor(exp.Select)
        scope = lineage.scopes.get(id(select)) if select is not None else None
        if scope is None:
            continue
        for column in own:
            if not isinstance(column, exp.Column):
                continue
            levels = set(_derived_levels(column, scope, lineage, columns)) & NO_LITERAL_FILTERS
            if levels:
                found.append((column, "VERY_HIGH" if "VERY_HIGH" in levels else "HIGH"))
    return found


def _partitions_or_orders(column: exp.Column, root: exp.Expression) -> bool:
    """Whether ``column`` only partitions or orders a window within ``root``."""
    node: exp.Expression = column
    while node is not root and node.parent is not None:
        parent = node.parent
        if isinstance(parent, exp.Window) and node is not parent.this:
            return True
        node = parent
    return False


def _own(node: exp.Expression, comparison: exp.Expression) -> bool:
    """Whether ``node`` is a value ``comparison`` compares: not inside a COUNT (or an
    approximate count), nor a subquery (whose own comparisons are checked as such)."""
    parent = node.parent
    while parent is not None and parent is not comparison.parent:
        if isinstance(parent, exp.Count | exp.ApproxDistinct | exp.Subquery | exp.Select):
            return False
        parent = parent.parent
    return True


def _counted(column: exp.Column) -> bool:
    """Whether ``column`` is what a COUNT (or COUNT(DISTINCT ...)) counts."""
    parent = column.parent
    if isinstance(parent, exp.Distinct):
        parent = parent.parent
    return isinstance(parent, exp.Count | exp.ApproxDistinct)


# -- user ids in the output -----------------------------------------------------------------------

# Columns holding one user's identity: a row that shows one passes the threshold only when the
# row covers that user alone, so it is dropped; gathered from many rows (COLLECT, MIN, a window
# over the users, ...) it would leave AMC in a row of many users, and the query is refused.
USER_COLUMNS = frozenset({"user_id", "device_id"})  # AMC's VERY_HIGH columns naming a user
USER_VALUES_MESSAGE = (
    "column {name!r} would export user ids gathered from many users: AMC exports no user "
    "identifiers (count them instead, e.g. COUNT(DISTINCT user_id))"
)
_NONE, _ONE_ROW, _MANY = 0, 1, 2
# What turns user ids into something that is no user id (a count, a length, a truth value).
_COUNTING = (exp.Count, exp.ApproxDistinct, exp.ArraySize, exp.Length, exp.Predicate, exp.Not)
_COUNTING_NAMES = frozenset({"CARDINALITY"})


def user_values_in_output(query: exp.Query) -> list[exp.Expression]:
    """The output columns of ``query`` that carry user ids gathered from many rows."""
    return _UserValues(query).gathered_outputs()


class _UserValues:
    def __init__(self, query: exp.Query) -> None:
        self.query = query
        self.lineage = Lineage(query)

    def gathered_outputs(self) -> list[exp.Expression]:
        found = []
        for select in leaf_selects(self.query):
            scope = self.lineage.scopes.get(id(select))
            if scope is None:
                continue
            for projection in select.expressions:
                if self.output_kind(projection, scope) == _MANY:
                    found.append(projection)
        return found

    def output_kind(self, projection: exp.Expression, scope: Scope) -> int:
        star = projection.this if isinstance(projection, exp.Column) else projection
        if not isinstance(star, exp.Star):
            return self.kind(projection, scope)
        names = [projection.table] if isinstance(projection, exp.Column) else list(scope.sources)
        sources = [self.lineage.resolve(scope.sources[n]) for n in names if n in scope.sources]
        return max(
            (
                self.source_kind(source, column, scope)
                for source in sources
                for column in _source_names(source)
            ),
            default=_NONE,
        )

    def kind(self, node: exp.Expression, scope: Scope) -> int:
        """Whether ``node`` holds no user id, one row's, or many rows' (iteratively: queries
        can nest expressions thousands deep)."""
        value: dict[int, int] = {}
        for n in reversed(list(node.walk(bfs=False, prune=lambda n: n is not node and _leaf(n)))):
            if _counting(n):
                value[id(n)] = _NONE
            elif isinstance(n, exp.Column):
                name = n.name.lower()
                sources = self.lineage.sources(n, scope)
                value[id(n)] = max((self.source_kind(s, name, scope) for s in sources), default=0)
            elif isinstance(n, exp.Subquery | exp.Select):
                value[id(n)] = self.subquery_kind(n)
            elif isinstance(n, exp.Window):
                value[id(n)] = _MANY if value.get(id(n.this), _NONE) else _NONE
            else:
                inner = max((value.get(id(c), _NONE) for c in n.iter_expressions()), default=0)
                value[id(n)] = _MANY if inner and isinstance(n, exp.AggFunc) else inner
        return value.get(id(node), _NONE)

    def subquery_kind(self, node: exp.Expression) -> int:
        scopes = self.lineage.scopes
        inner = node.this if isinstance(node, exp.Subquery) else node
        return max(
            (
                self.kind(p, scopes[id(s)])
                for s in leaf_selects(inner)
                if id(s) in scopes
                for p in s.expressions
            ),
            default=_NONE,
        )

    def source_kind(self, source: Any, name: str, scope: Scope) -> int:
        if isinstance(source, exp.Table):
            return _ONE_ROW if name in USER_COLUMNS else _NONE
        if not isinstance(source, Scope):
            return _NONE
        return self.lineage.follow(
            source, name, lambda: self._scope_column_kind(source, name, scope), cycle=_NONE
        )

    def _scope_column_kind(self, source: Scope, name: str, outer: Scope) -> int:
        expression = source.expression
        if isinstance(expression, exp.Lateral | exp.Unnest):  # rows of what it explodes
            alias = expression.args.get("alias")
            columns = [c.name.lower() for c in alias.columns] if alias is not None else []
            if name not in columns or expression.this is None:
                return _NONE
            return self.kind(expression.this, outer)
        leaves = leaf_selects(expression)
        if not leaves:
            return _NONE
        names = [n.lower() for n in leaves[0].named_selects]
        kinds = []
        for leaf in leaves:
            leaf_scope = self.lineage.scopes.get(id(leaf))
            if leaf_scope is None:
                continue
            projections = leaf.expressions
            if name in names and names.index(name) < len(projections):
                kinds.append(self.output_kind(projections[names.index(name)], leaf_scope))
            elif any(isinstance(p, exp.Star) or isinstance(p.this, exp.Star) for p in projections):
                kinds.append(self.kind(exp.column(name), leaf_scope))
        return max(kinds, default=_NONE)


def _counting(node: exp.Expression) -> bool:
    return isinstance(node, _COUNTING) or (
        isinstance(node, exp.Anonymous) and str(node.this).upper() in _COUNTING_NAMES
    )


def _leaf(node: exp.Expression) -> bool:
    """Whether `_UserValues.kind` decides ``node`` without looking into it."""
    return _counting(node) or isinstance(node, exp.Column | exp.Subquery | exp.Select)


def _source_names(source: Any) -> list[str]:
    if isinstance(source, exp.Table):
        return sorted(USER_COLUMNS)
    if isinstance(source, Scope):
        leaves = leaf_selects(source.expression)
        return [n.lower() for n in leaves[0].named_selects] if leaves else []
    return []
