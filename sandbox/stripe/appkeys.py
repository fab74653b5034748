"""The typed keys under which the sandbox app keeps its state."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from .config import SandboxConfig
from .state import SandboxState

if TYPE_CHECKING:
    from .delivery import WebhookDispatcher
    from .faults import FaultInjector
    from .tasks import BackgroundTasks

STATE = web.AppKey("sandbox_state", SandboxState)
CONFIG = web.AppKey("sandbox_config", SandboxConfig)
DISPATCHER: web.AppKey[WebhookDispatcher] = web.AppKey("sandbox_dispatcher")
FAULTS: web.AppKey[FaultInjector] = web.AppKey("sandbox_faults")
TASKS: web.AppKey[BackgroundTasks] = web.AppKey("sandbox_tasks")
REQUEST_ID = web.RequestKey("sandbox_request_id", str)
