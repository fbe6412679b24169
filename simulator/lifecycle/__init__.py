"""Market lifecycle: corporate actions and the weekly maintenance window."""
