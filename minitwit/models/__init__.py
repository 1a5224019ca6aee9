"""SQLModel tables: the only description of the schema besides the Alembic revisions."""

from minitwit.models.tables import (
    EMAIL_MAX_LENGTH,
    USERNAME_MAX_LENGTH,
    Follower,
    Latest,
    Message,
    RateCounter,
    SignIn,
    SimulatorAction,
    User,
    metadata,
)

__all__ = [
    "EMAIL_MAX_LENGTH",
    "USERNAME_MAX_LENGTH",
    "Follower",
    "Latest",
    "Message",
    "RateCounter",
    "SignIn",
    "SimulatorAction",
    "User",
    "metadata",
]
