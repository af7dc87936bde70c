"""Ask the cluster whether an identity may do something: SubjectAccessReview.

The reviews are created with the bot's own credentials (it needs ``create
subjectaccessreviews``); the answer is the cluster's RBAC for the named user and groups. A review
creates nothing, so the client's retry policy repeats it like a read (bot/clients/retry_rest.py).
"""

from __future__ import annotations

from collections.abc import Sequence

from kubernetes import client

from bot.clients.kube import KubeAccess
from bot.model import Permission


def missing_permissions(
    bot: KubeAccess, user: str | None, groups: Sequence[str], permissions: Sequence[Permission]
) -> list[Permission]:
    """The subset of ``permissions`` the identity lacks (``user`` None: the caller itself)."""
    api = client.AuthorizationV1Api(bot.api_client)
    denied = []
    for perm in dict.fromkeys(permissions):
        attrs = client.V1ResourceAttributes(
            verb=perm.verb,
            group=perm.group,
            resource=perm.resource,
            subresource=perm.subresource or None,
            namespace=perm.namespace,
            name=perm.name,
        )
        if user is None:
            review = client.V1SelfSubjectAccessReview(
                spec=client.V1SelfSubjectAccessReviewSpec(resource_attributes=attrs)
            )
            result = api.create_self_subject_access_review(review, _request_timeout=bot.timeout)
        else:
            review = client.V1SubjectAccessReview(
                spec=client.V1SubjectAccessReviewSpec(user=user, groups=list(groups), resource_attributes=attrs)
            )
            result = api.create_subject_access_review(review, _request_timeout=bot.timeout)
        if not result.status.allowed:
            denied.append(perm)
    return denied
