"""Accounts and their risk: account commands, liquidation, the FCM desk, read models."""
