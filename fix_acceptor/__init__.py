"""The FIX acceptor: FIXT.1.1 / FIX50SP2 sessions KalshiNR, KalshiRT, KalshiDC and KalshiMD."""
