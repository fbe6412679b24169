"""The client's own code. Its top-level package is named `api`, as many projects' are: the
simulator that the `perps_sim` fixture starts must still find its own packages."""

BTC = "KXBTCPERP"
