"""A surface page hands its session over in an inert JSON block that no name can break out of."""

from __future__ import annotations

import json
from typing import Any

from aiohttp.test_utils import TestClient

from addon.http.surfaces import script_safe_json
from tests.conftest import launch_token, session_from_page

HOSTILE = 'Dr </script><!--<script>alert("x")</script> & Co'


def test_script_safe_json_round_trips_and_has_no_markup() -> None:
    text = script_safe_json({"name": HOSTILE})
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == {"name": HOSTILE}


async def test_a_hostile_name_stays_inside_the_session_block(client: TestClient[Any, Any]) -> None:
    response = await client.get(f"/widget/clinician?launch={launch_token(role='team_member', name=HOSTILE)}")
    assert response.status == 200
    html = await response.text()
    assert session_from_page(html)["user"]["name"] == HOSTILE
    assert "<!--" not in html
    assert "</html>" in html
