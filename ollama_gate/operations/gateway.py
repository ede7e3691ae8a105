"""A gateway switches to a new service credential only once every backend accepts it."""

from __future__ import annotations

import time
from typing import Sequence

from pyinfra import host
from pyinfra.api import operation
from pyinfra.api.operation import OperationMeta

from ..facts.host import ProxyLoaded, loaded_is_on_disk
from ..facts.http import HttpProbes, curl_batch_config
from ..gateway import Pool, backend_resolve, backend_url
from ..secrets_file import Secret
from .snapshot import known
from .util import fail_host

# How long backends may take to accept the new credential (their credential file was
# written by the previous operations of this run; a bearer backend's workers read theirs
# again once a second), and the extra second every worker of a backend gets to have read it.
ACCEPT_SECONDS = 20
WORKERS_SECONDS = 1.0
RETRY_INTERVAL = 0.5


@operation()
def backends_accept(service: Secret, pool: Pool, stack_dir: str, container: str,
                    changed_by: Sequence[OperationMeta] = (), trust_file: str = ""):
    """
    Before the gateway reloads with a new service credential, wait until every backend
    accepts it (anything but 401 to ``GET /api/tags`` with it, asked from the gateway
    host, every backend in one command, the credential on curl's stdin). The backends
    accept the previous credential as well until the gateway has switched
    (``credentials.previous_dropped``), so no client request is refused meanwhile.
    Changes nothing; fails the gateway (not reloaded: it keeps sending the previous
    credential, which the backends keep accepting) when a backend still refuses it.

    + service: the Authorization header the gateway sends (a Secret: printed as its name)
    + pool: the gateway's backends
    + stack_dir, container: the gateway's stack and proxy (has the proxy loaded the disk?)
    + changed_by: the operation writing the gateway's credential include
    + trust_file: with TLS backends, the gateway's bundle their certificates are checked
      against (by each backend's name, as the verification does; never -k)

    **Example:**

    .. code:: python

        gateway.backends_accept(name="Wait until every backend accepts the gateway's credential.",
                                service=cfg.gateway.service, pool=cfg.gateway.pool,
                                stack_dir="/opt/ollama-gate", container="ollama-gate-proxy",
                                changed_by=[include])
    """
    if not any(op.changed for op in changed_by) and loaded_is_on_disk(
            known(ProxyLoaded, stack_dir=stack_dir, container=container)):
        host.noop("the gateway's credential for its backends is the one its proxy has loaded")
        return
    if not host.state.is_executing:
        host.noop("the backends are asked once the deploy runs")
        return
    urls = [backend_url(b, pool.tls) + "/api/tags" for b in pool.backends]
    tls = [(trust_file, backend_resolve(b)) if pool.tls else () for b in pool.backends]
    deadline = time.monotonic() + ACCEPT_SECONDS
    while True:
        stdin = curl_batch_config([("GET", url, None, 10, False, service.reveal(), *extra)
                                   for url, extra in zip(urls, tls)])
        answers = host.get_fact(HttpProbes, requests=[f"GET {url}" for url in urls], _stdin=stdin) or []
        answers = [*answers, *[None] * (len(urls) - len(answers))]
        refusing = [b.name for b, a in zip(pool.backends, answers) if not a or a.get("status") == 401]
        if not refusing:
            break
        if time.monotonic() >= deadline:
            yield from fail_host(
                f"the backends {', '.join(refusing)} do not accept the gateway's new credential {service.name!r} "
                f"after {ACCEPT_SECONDS} s (their credential file op failed?); the gateway keeps the previous "
                "one (not reloaded), which they still accept; rerun when they are deployed")
            return
        time.sleep(RETRY_INTERVAL)
    # One answer came from one worker of each backend: give every worker its reread.
    time.sleep(WORKERS_SECONDS)
    host.noop(f"every backend accepts the gateway's credential {service.name!r}")
