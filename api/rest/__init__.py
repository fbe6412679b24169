"""REST handlers under `/trade-api/v2`, one module per resource group. Each handler is
`async def`: parse, call the exchange, render through `api.wire`.
"""
