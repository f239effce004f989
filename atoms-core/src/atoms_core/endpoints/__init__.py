"""The HTTP/SSE/WebSocket endpoints of the fixed route table, and their middleware."""
