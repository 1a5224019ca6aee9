"""MiniTwit: a small microblog with a GraphQL API, a thin web client and the simulator's API."""

__version__ = "0.1.0"
