"""In-call surfaces: the clinician's Request payment panel and the patient's payment widget."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from widget import clinician, patient

STATIC = Path(__file__).parent / "static"


def setup(app: web.Application) -> None:
    """Register this part's routes and background work on the app."""
    STATIC.mkdir(exist_ok=True)
    app.router.add_static("/widget/static/", STATIC, append_version=False)
    clinician.setup(app)
    patient.setup(app)
