"""The margin WebSocket API (WEBSOCKET.md): endpoint, sessions and the fan-out hub."""
