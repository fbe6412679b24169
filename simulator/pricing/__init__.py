"""The timers that move prices: marks, premium, funding, expiry and coalesced tickers."""
