"""Identity: bearer JWTs (IdentityMiddleware), stream tickets, and the one authorization function."""
