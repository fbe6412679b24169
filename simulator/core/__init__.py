"""The simulator's vocabulary: clock, ids, money, errors, settings, events and the event
bus, and the command boundary with its log and name table.

Imports nothing of the simulator outside this package.
"""
