"""Pure data and math: market specs, live market data, the ledger, orders, the margin
curve and risk, marks, reference feeds, candles, funding and its schedule.

Imports only `simulator.core` and `matching`.
"""
