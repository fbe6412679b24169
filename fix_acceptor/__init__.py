"""asyncio FIX acceptor for the NR, RT, DC and MD sessions: codec, session layer, application
mapping, drop copy and market data. Imports `simulator` and `matching`, never `api`.
"""
