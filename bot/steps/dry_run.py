"""Server-side dry run at plan time: submit a step's write with ``dryRun=All`` as the requester.

The API server then runs everything but the write to etcd — defaulting, CRD schema validation,
admission webhooks, ValidatingAdmissionPolicy — so a change it would reject is refused while
planning, with the server's own reason, instead of half-way through a run. The plan shows the
outcome ("the API server accepts this change").

A refusal by RBAC itself (the requester may not make the write at all) is not an answer about
the change: it is left to the engine's SubjectAccessReview, which names the missing permission.

Careful with DELETE: when a request carries a body (DeleteOptions, e.g. a UID precondition), the
API server reads the options from the body *only* and ignores the ``?dryRun=All`` query
parameter — the pod is really deleted. ``delete_options`` puts ``dryRun`` in the body (and the
caller passes the query parameter too, so the audit log's requestURI shows it).

Evictions support it too: ``create_namespaced_pod_eviction(name, ns, body, dry_run="All")`` (a
create reads its options from the query; the server copies it into the eviction's delete
options, and refuses a body whose ``deleteOptions.dryRun`` disagrees); a PDB that blocks
answers 429 even in a dry run, so a dry-run eviction also says whether a PDB allows it now.
"""

from __future__ import annotations

from collections.abc import Callable

from kubernetes.client.exceptions import ApiException

from bot.clients.api_errors import explain_api_error
from bot.errors import UserError
from bot.steps.base import StepPlan

DRY_RUN = "All"
ACCEPTED = "the API server accepts this change (server-side dry run)"


def delete_options(uid: str | None = None, *, dry_run: bool = False) -> dict[str, object]:
    """A DeleteOptions body: optional UID precondition, and ``dryRun`` in the body where DELETE honours it."""
    body: dict[str, object] = {}
    if uid is not None:
        body["preconditions"] = {"uid": uid}
    if dry_run:
        body["dryRun"] = [DRY_RUN]
    return body


def is_rbac_denial(exc: ApiException) -> bool:
    """A 403 from RBAC (``User "x" cannot patch resource …``), as opposed to an admission webhook's 403."""
    return exc.status == 403 and " cannot " in (exc.body or "") and "admission webhook" not in (exc.body or "")


def server_dry_run(plan: StepPlan, what: str, submit: Callable[[], object]) -> bool:
    """Call ``submit`` (a write already carrying ``dry_run="All"``) and record the answer in ``plan``.

    Returns True when the server accepted it, False when RBAC kept it from being asked (the
    engine's permission check will say what is missing). Raises UserError with the server's
    reason when the server would reject the change; 404 propagates (the object is gone).
    """
    try:
        submit()
    except ApiException as exc:
        if exc.status == 404:
            raise
        if is_rbac_denial(exc):
            plan.details.append(f"server-side dry run of {what} not made: your RBAC does not allow the write")
            return False
        raise UserError(
            f"the API server would refuse {what}: {_reason(exc)}",
            hint="nothing was changed: the plan was checked with a server-side dry run",
        ) from None
    plan.details.append(f"✓ {what}: {ACCEPTED}")
    return True


def _reason(exc: ApiException) -> str:
    """The server's message without the generic ``the API server answered 422:`` prefix."""
    text = explain_api_error(exc)
    prefix = f"the API server answered {exc.status}: "
    return text[len(prefix) :] if text.startswith(prefix) else text
