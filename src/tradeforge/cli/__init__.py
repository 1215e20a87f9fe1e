"""The ``tradeforge`` command line."""
