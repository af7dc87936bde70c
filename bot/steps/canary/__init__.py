"""Canary traffic: one step (``canary.traffic``) over one driver per router.

Modules: ``driver`` (the common protocol and types), ``discovery`` (app → router, object and
backends), one module per router (``gateway``, ``contour``, ``istio``, ``nginx``, ``replicas``,
``argo``, ``flagger``; the first three share ``routes``), ``promotion`` (the stable Deployment
takes the canary's images) and ``steps`` (plan and run).
"""

from bot.steps.canary.steps import CanaryTraffic

__all__ = ["CanaryTraffic"]
