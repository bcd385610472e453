"""Plots (matplotlib, headless-safe): training curves here, one module per data kind."""
