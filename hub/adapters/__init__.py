"""Adapters: one module per technology, implementing the ports in ``hub.ports``."""
