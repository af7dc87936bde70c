"""The runbook engine: parsing, runbook catalog, planning, authorization and execution."""
