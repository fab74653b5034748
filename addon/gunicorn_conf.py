"""gunicorn's settings for Callpay: ``gunicorn -c python:addon.gunicorn_conf 'addon.wsgi:app'``.

aiohttp's worker class, a graceful stop that fits a platform's usual 30 s (SIGTERM: each worker stops taking
connections, drops its sockets so their clients reconnect to a worker still running, finishes the requests in
flight and its background jobs' round), and prometheus-client's multiprocess mode when ``PROMETHEUS_MULTIPROC_DIR``
is set: the directory is emptied when gunicorn starts and a worker that exits stops counting in the live figures,
so ``/metrics`` on any worker answers for all of them. ``--workers`` (or ``WEB_CONCURRENCY``) and ``--bind`` come
from the command line, which may also override anything here.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

worker_class = "aiohttp.GunicornWebWorker"
# aiohttp's worker waits 95% of this for requests in flight once its sockets are dropped.
graceful_timeout = 25
# Sockets ping every 20 s; a worker silent for this long is stuck and restarted.
timeout = 60
# nginx (or the platform's balancer) keeps connections to the workers open between requests.
keepalive = 75


def on_starting(_server: Any) -> None:
    """Figures of a previous run's processes would be summed into this one's: start from an empty directory."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        path = Path(directory)
        if path.is_dir():
            for entry in path.iterdir():
                if entry.is_dir():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()
        else:
            path.mkdir(parents=True)


def child_exit(_server: Any, worker: Any) -> None:
    """A worker that exited (stopped, or killed after the timeout) no longer holds sockets."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]
