"""atoms-core: the realtime backbone for collaborative canvases (SSE truth, ephemeral WS, durable timeline)."""

__version__ = "0.1.0"
