"""What holds for every HTTP route, whichever face answers it: the request's id, log line and
metrics, bounded bodies, security headers, the cross-site guard, the session cookie, and the
one shape of a JSON error. Pure ASGI middleware (never ``BaseHTTPMiddleware``)."""
