"""Limits on what one GraphQL request may ask for, checked before it runs.

Depth, tokens and aliases alone do not bound the work: ``followers(first: 1000) { following
(first: 1000) { ... } }`` is shallow and short but asks for millions of rows. ``QueryCost``
bounds the worst-case number of result nodes: each list field multiplies what it contains by
its ``first`` (the field's default when absent, its maximum when given by a variable).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    ValidationRule,
)

MAX_COST = 10_000


@dataclass(frozen=True)
class ListField:
    default: int
    maximum: int


def list_fields(
    page_size: int, max_page_size: int, follows: int, max_follows: int
) -> dict[str, ListField]:
    timeline = ListField(page_size, max_page_size)
    people = ListField(follows, max_follows)
    return {
        "publicTimeline": timeline,
        "homeTimeline": timeline,
        "flaggedMessages": timeline,
        "messages": timeline,
        "followers": people,
        "following": people,
    }


def query_cost_rule(fields: dict[str, ListField], maximum: int = MAX_COST) -> type[ValidationRule]:
    class QueryCost(ValidationRule):
        """Refuses operations whose worst-case result exceeds ``maximum`` nodes."""

        def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
            cost = self._cost(node.selection_set, frozenset())
            if cost > maximum:
                self.report_error(
                    GraphQLError(
                        f"This query could return {cost:,} items, more than the {maximum:,}"
                        " allowed: ask for fewer (first) or nest fewer lists",
                        node,
                    )
                )

        def _cost(self, selection_set: SelectionSetNode | None, seen: frozenset[str]) -> int:
            if selection_set is None:
                return 0
            total = 0
            for selection in selection_set.selections:
                if isinstance(selection, FieldNode):
                    total += self._multiplier(selection) * (
                        1 + self._cost(selection.selection_set, seen)
                    )
                elif isinstance(selection, InlineFragmentNode):
                    total += self._cost(selection.selection_set, seen)
                elif isinstance(selection, FragmentSpreadNode):
                    name = selection.name.value
                    fragment = self.context.get_fragment(name)
                    if fragment is not None and name not in seen:
                        total += self._cost(fragment.selection_set, seen | {name})
            return total

        @staticmethod
        def _multiplier(field: FieldNode) -> int:
            limits = fields.get(field.name.value)
            if limits is None:
                return 1
            for argument in field.arguments or ():
                if argument.name.value == "first":
                    if isinstance(argument.value, IntValueNode):
                        try:
                            return max(0, min(int(argument.value.value), limits.maximum))
                        except ValueError:
                            return limits.maximum
                    return limits.maximum
            return limits.default

    return QueryCost


def single_field_rule(names: frozenset[str], what: str) -> type[ValidationRule]:
    class SingleField(ValidationRule):
        """Refuses a mutation that selects ``names`` more than once (30 aliased sign-ins
        would be 30 password guesses, and 30 hashes, for the price of one request)."""

        def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
            if node.operation != OperationType.MUTATION:
                return
            if self._count(node.selection_set, frozenset()) > 1:
                self.report_error(GraphQLError(f"Only one {what} per request", node))

        def _count(self, selection_set: SelectionSetNode | None, seen: frozenset[str]) -> int:
            if selection_set is None:
                return 0
            count = 0
            for selection in selection_set.selections:
                if isinstance(selection, FieldNode):
                    count += selection.name.value in names
                elif isinstance(selection, InlineFragmentNode):
                    count += self._count(selection.selection_set, seen)
                elif isinstance(selection, FragmentSpreadNode):
                    name = selection.name.value
                    fragment = self.context.get_fragment(name)
                    if fragment is not None and name not in seen:
                        count += self._count(fragment.selection_set, seen | {name})
            return count

    return SingleField


__all__ = ["MAX_COST", "list_fields", "query_cost_rule", "single_field_rule"]
