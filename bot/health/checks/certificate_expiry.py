"""``certificate_expiry``: the API server's serving certificate or the kubeconfig's client certificate expiring.

Within ``warn_before`` of its end a certificate is reported at the check's severity; within
``critical_before``, critical (a rise the alert tells at once).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.config.health import Duration
from bot.durations import human_duration
from bot.health.checks.check import Check, CheckSettings
from bot.health.checks.findings import Finding
from bot.health.checks.snapshot import CERTIFICATES, ClusterSnapshot


class CertificateExpirySettings(CheckSettings):
    """Certificate expiry: warn ``warn_before`` the end, critical ``critical_before`` it."""

    warn_before: Duration = timedelta(days=7)
    critical_before: Duration = timedelta(days=1)


def find_expiring_certificates(
    snap: ClusterSnapshot, settings: CertificateExpirySettings, now: datetime
) -> list[Finding]:
    """One finding per certificate within its warning window; since when the window began."""
    out = []
    for cert in snap.certificates:
        left = cert.not_after - now
        if left > settings.warn_before:
            continue
        critical = left <= settings.critical_before
        when = "expired" if left.total_seconds() <= 0 else f"expires in {human_duration(left)}"
        kind = "serving" if "serving" in cert.source else "client"
        out.append(
            Finding(
                "certificate_expiry",
                f"certificate/{kind}/{cert.subject}",
                f"{cert.source} ({cert.subject}) {when}, at {cert.not_after:%Y-%m-%d %H:%M} UTC",
                "critical" if critical else settings.severity,
                cert.not_after - (settings.critical_before if critical else settings.warn_before),
            )
        )
    return out


CERTIFICATE_EXPIRY = Check(
    name="certificate_expiry",
    title="Certificate expiring",
    why="When it expires, clients (kubectl, controllers, this bot) can no longer talk to the API server.",
    duration=timedelta(0),
    severity="warning",
    resources=(CERTIFICATES,),
    settings=CertificateExpirySettings,
    find=find_expiring_certificates,
)
