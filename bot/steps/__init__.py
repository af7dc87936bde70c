"""Executors: every step a runbook can compose, each with plan() and run()."""
