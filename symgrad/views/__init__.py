"""Views: they render records and traces, and compute nothing."""
