"""Live timelines: changes of the messages, from whichever replica made them, to subscribers.

PostgreSQL announces each change on a channel, from a trigger inside the writing transaction
(migration 0004), so only what committed is announced, whatever wrote it. Each worker process
holds ONE listening connection (``listener.Listener``, a thread), not one per subscriber; on
SQLite (one process) the ``Database`` hands the hub the changes its own units committed.

- ``feeds``: one subscription (``Feed``), its bounded queue, and what it is handed
  (``Delivery``).
- ``hub``: the worker's fan-out (``Hub``), announcements in, deliveries out.
- ``listener``: the listening connection to PostgreSQL.
"""
