"""The realtime core: contracts, stream keys, state, timeline, SSE and WebSocket."""
