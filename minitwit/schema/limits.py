"""What one GraphQL request may ask for, decided before anything runs.

Depth, tokens and aliases alone do not bound the work: ``followers(first: 1000) { following
(first: 1000) { ... } }`` is shallow and short but asks for millions of rows, and each
``followers`` of each user is a query of its own. So every document is inspected once (the
result is remembered by the caller), in one pass that is linear in its size, fragments included:

- its size with every fragment spread expanded (Strawberry's own depth and alias limiters walk
  fragments once per spread, which is exponential in fragments that spread others twice);
- the worst-case number of result items: each list field multiplies what it contains by its
  ``first`` or ``last`` (its default when absent, its maximum when it comes by variable);
- the worst-case number of resolver calls that query the database;
- how many password-hashing mutation fields it selects (at most one), and so whether the
  request must wait for a hashing slot.

What a field costs is declared on the field itself (``metadata=cost(...)``) and read from the
built schema, so a field's cost and its definition cannot drift apart, and the walk knows each
field's type: ``Query.node(id:)`` looks a row up, an edge's ``node`` is already loaded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    ValueNode,
    get_named_type,
    parse,
)

MAX_TOKENS = 2_000
MAX_FIELDS = 5_000
MAX_ITEMS = 10_000
MAX_DATABASE_CALLS = 50
# The arguments that say how many items a list field returns (Relay's forward and backward).
PAGE_SIZE_ARGUMENTS = frozenset({"first", "last"})


COST = "minitwit.cost"  # the key of a field's cost in its Strawberry metadata
STRAWBERRY_FIELD = "strawberry-definition"  # where graphql-core's field keeps Strawberry's


@dataclass(frozen=True)
class Cost:
    """What resolving a field once costs, declared on the field with :func:`cost`."""

    queries: bool = False  # each resolution queries the database
    page: str | None = None  # a list paged by first/last; names its page sizes
    hashes: bool = False  # hashes a password


def cost(
    *, queries: bool = False, page: str | None = None, hashes: bool = False
) -> dict[str, Cost]:
    """A field's cost, as Strawberry field metadata::

    @strawberry.field(description="...", metadata=cost(queries=True, page="timeline"))
    def public_timeline(self, info: Info, first: int | None = None) -> MessageConnection:
        ...
    """
    return {COST: Cost(queries=queries, page=page, hashes=hashes)}


@dataclass(frozen=True)
class ListField:
    default: int
    maximum: int


@dataclass(frozen=True)
class FieldLimits:
    queries: bool
    page: ListField | None
    hashes: bool


@dataclass(frozen=True)
class Limits:
    schema: GraphQLSchema
    fields: Mapping[tuple[str, str], FieldLimits]  # by (type name, field name)


def limits_from_schema(schema: GraphQLSchema, pages: Mapping[str, ListField]) -> Limits:
    """The costs declared on the schema's fields, with their page sizes from ``pages``."""
    fields: dict[tuple[str, str], FieldLimits] = {}
    for type_name, graphql_type in schema.type_map.items():
        if not isinstance(graphql_type, GraphQLObjectType | GraphQLInterfaceType):
            continue
        for field_name, field in graphql_type.fields.items():
            definition = (field.extensions or {}).get(STRAWBERRY_FIELD)
            declared = (getattr(definition, "metadata", None) or {}).get(COST)
            if not isinstance(declared, Cost):
                continue
            if declared.page is not None and declared.page not in pages:
                raise ValueError(f"{type_name}.{field_name}: no page sizes {declared.page!r}")
            page = pages[declared.page] if declared.page is not None else None
            fields[type_name, field_name] = FieldLimits(declared.queries, page, declared.hashes)
    return Limits(schema, fields)


@dataclass(frozen=True)
class Inspection:
    refusal: str | None = None
    hashes: bool = False


@dataclass(frozen=True)
class _Cost:
    fields: int = 0
    items: int = 0
    calls: int = 0
    hashing: int = 0

    def __add__(self, other: _Cost) -> _Cost:
        return _Cost(
            self.fields + other.fields,
            self.items + other.items,
            self.calls + other.calls,
            self.hashing + other.hashing,
        )


class Inspector:
    """Inspects documents against ``limits`` (the caller remembers the answers)."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits

    def inspect(self, query: str, operation_name: str | None) -> Inspection:
        """``inspect_document`` of ``query``; a document that does not parse passes here
        (parsing reports it)."""
        try:
            document = parse(query, max_tokens=MAX_TOKENS)
        except GraphQLError:
            return Inspection()
        return self.inspect_document(document, operation_name)

    def inspect_document(self, document: DocumentNode, operation_name: str | None) -> Inspection:
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        if operation_name is None and len(operations) > 1:
            return Inspection(
                "This document has several operations: name the one to run (operationName)"
            )
        chosen = [
            o
            for o in operations
            if operation_name is None or (o.name is not None and o.name.value == operation_name)
        ]
        if not chosen:
            return Inspection()  # the caller reports the unknown operation
        operation = chosen[0]
        fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        root = self.limits.schema.get_root_type(operation.operation)
        total = _Walk(self.limits, fragments).selection_set(operation.selection_set, root)
        return Inspection(
            refusal=_refusal(total),
            hashes=operation.operation == OperationType.MUTATION and total.hashing > 0,
        )


def _refusal(cost: _Cost) -> str | None:
    if cost.fields > MAX_FIELDS:
        return (
            f"This query has {cost.fields:,} fields once its fragments are expanded, more than"
            f" the {MAX_FIELDS:,} allowed"
        )
    if cost.items > MAX_ITEMS:
        return (
            f"This query could return {cost.items:,} items, more than the {MAX_ITEMS:,}"
            " allowed: ask for fewer (first) or nest fewer lists"
        )
    if cost.calls > MAX_DATABASE_CALLS:
        return (
            f"This query could make {cost.calls:,} database queries, more than the"
            f" {MAX_DATABASE_CALLS} allowed: nest fewer lists"
        )
    if cost.hashing > 1:
        return "Only one sign-in or sign-up per request"
    return None


class _Walk:
    """The cost of one instance of each selection set; each fragment is costed once.

    Types follow the schema; a field or type the schema lacks costs nothing (validation
    refuses the document anyway).
    """

    def __init__(self, limits: Limits, fragments: Mapping[str, FragmentDefinitionNode]) -> None:
        self.limits = limits
        self.fragments = fragments
        self.costed: dict[str, _Cost] = {}
        self.costing: set[str] = set()

    def selection_set(
        self, selection_set: SelectionSetNode | None, parent: GraphQLNamedType | None
    ) -> _Cost:
        total = _Cost()
        if selection_set is None:
            return total
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total += self.field(selection, parent)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                inner = parent if condition is None else self._type(condition.name.value)
                total += self.selection_set(selection.selection_set, inner)
            elif isinstance(selection, FragmentSpreadNode):
                total += self.fragment(selection.name.value)
        return total

    def fragment(self, name: str) -> _Cost:
        if name in self.costed:
            return self.costed[name]
        definition = self.fragments.get(name)
        if definition is None or name in self.costing:
            return _Cost()  # unknown or cyclic: validation refuses the document anyway
        self.costing.add(name)
        on = self._type(definition.type_condition.name.value)
        total = self.selection_set(definition.selection_set, on)
        self.costing.discard(name)
        self.costed[name] = total
        return total

    def field(self, field: FieldNode, parent: GraphQLNamedType | None) -> _Cost:
        name = field.name.value
        declared: FieldLimits | None = None
        returns: GraphQLNamedType | None = None
        if isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
            definition = parent.fields.get(name)
            if definition is not None:
                returns = get_named_type(definition.type)
                declared = self.limits.fields.get((parent.name, name))
        inner = self.selection_set(field.selection_set, returns)
        times = self._multiplier(field, declared)
        return _Cost(
            fields=1 + inner.fields,
            items=1 + times * inner.items,
            calls=int(declared is not None and declared.queries) + times * inner.calls,
            hashing=int(declared is not None and declared.hashes) + inner.hashing,
        )

    def _type(self, name: str) -> GraphQLNamedType | None:
        return self.limits.schema.get_type(name)

    def _multiplier(self, field: FieldNode, declared: FieldLimits | None) -> int:
        """How many items a list field returns at most: its ``first`` or ``last`` (both are
        refused when given together; the larger counts), its maximum when either comes by
        variable, its default when neither is given."""
        limits = declared.page if declared is not None else None
        if limits is None:
            return 1
        sizes = [
            self._size(argument.value, limits)
            for argument in field.arguments or ()
            if argument.name.value in PAGE_SIZE_ARGUMENTS
        ]
        return max(sizes) if sizes else limits.default

    @staticmethod
    def _size(value: ValueNode, limits: ListField) -> int:
        if isinstance(value, IntValueNode):
            try:
                return max(0, min(int(value.value), limits.maximum))
            except ValueError:
                return limits.maximum
        return limits.maximum
