"""Thin adapters from HTTP, SSE and WebSocket to the node."""
