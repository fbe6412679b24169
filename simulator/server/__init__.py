"""The running simulator: runtime, snapshots and journal, scenarios, house bots, clock
driver, listening sockets, the composition root (`serve`) and the CLI.
"""
