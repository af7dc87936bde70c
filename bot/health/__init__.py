"""Health: the checks (``bot.health.checks``) and the alerting service (``bot.health.alerting``).

Two layers, deliberately not imported from here: the checks sit below ``bot.steps`` (the
``health`` runbook uses them), the alerting service above it, beside ``bot.engine``.
"""
