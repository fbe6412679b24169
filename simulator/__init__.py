"""The exchange: accounts, subaccounts, margin, fees, positions, marks, funding, liquidation,
exit triggers, order groups, the clock, ids, events, journal and scenarios, the CLI and the
composition root. Built on `matching`; never imports a transport except in its composition root.
"""
