"""Adapters: storage, exchanges, notifications — implementations of tradeforge.ports."""
