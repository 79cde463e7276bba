"""Runs a search against the store: applies overrides and commands, records every iteration."""
