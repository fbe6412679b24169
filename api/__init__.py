"""FastAPI transport: REST `/trade-api/v2/margin`, WebSocket `/trade-api/ws/v2/margin` and the
control plane `/sim/v1`. Imports `simulator` and `matching`, never `fix_acceptor`.
"""
