"""Backtest job queue, runner and endpoint tests."""
