"""In-call surfaces: the clinician's Request payment panel and the patient's payment widget."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from addon.pages import register_part
from widget import clinician, patient, pay_link

STATIC = Path(__file__).parent / "static"
TEMPLATES = Path(__file__).parent / "templates"


def setup(app: web.Application) -> None:
    """Register this part's routes and background work on the app."""
    STATIC.mkdir(exist_ok=True)
    register_part(app, templates=TEMPLATES, static=("/widget/static/", STATIC))
    clinician.setup(app)
    patient.setup(app)
    pay_link.setup(app)
