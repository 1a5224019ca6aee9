"""The database layer: the engine, units of work on pooled connections, migrations.

Resolvers take a unit of work and know nothing else of this package; the app makes the
``Database`` and hands it to the faces.
"""
