"""Domain operations: plain functions of a unit of database work
(:class:`~minitwit.db.database.Tx`) and arguments, returning rows or raising
:class:`~minitwit.resolvers.errors.DomainError`. Nothing here knows HTTP or GraphQL."""
