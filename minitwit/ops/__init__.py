"""Running the service: logs, metrics, health (``/health/live``, ``/health/ready`` and the
container's probe), backups. Nothing here is a face or a domain operation: the faces and the
app call into it, it calls nothing of theirs.

Imports nothing: ``minitwit.ops.healthcheck`` runs in an interpreter of its own every few seconds.
"""
