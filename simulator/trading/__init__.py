"""Order entry's parts: pre-trade checks, executions, order groups and exit triggers."""
