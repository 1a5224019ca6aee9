"""MiniTwit: a small microblog with a GraphQL API, a thin web client and the simulator's API."""
