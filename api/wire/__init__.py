"""The REST JSON mapping: exchange records and views in, Kalshi's wire dicts out, and the
request structs the handlers decode bodies into. One module per resource group; times and
numbers go through `api.wire.common` and `simulator.core.money` only.
"""
