"""Domain operations: plain functions of a session and arguments, returning rows or raising
:class:`~minitwit.resolvers.errors.DomainError`. Nothing here knows HTTP or GraphQL."""
