"""Adapters: one module per technology (Kafka, the in-memory log, SQLite, HTTP servers)."""
