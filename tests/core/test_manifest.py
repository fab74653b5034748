"""The manifest the host platform installs from: valid against its schema, and every path it names is served."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from aiohttp.test_utils import TestClient

import addon

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = json.loads((ROOT / "manifest.json").read_text())
SCHEMA = json.loads((ROOT / "manifest.schema.json").read_text())


def test_manifest_is_valid_against_its_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker()).validate(MANIFEST)


def test_the_schema_refuses_a_broken_manifest() -> None:
    broken = copy.deepcopy(MANIFEST)
    broken["launch"]["algorithm"] = "none"
    del broken["surfaces"][1]["icon"]
    errors = list(jsonschema.Draft202012Validator(SCHEMA).iter_errors(broken))
    assert len(errors) == 2


def test_manifest_version_is_the_package_version() -> None:
    assert MANIFEST["version"] == addon.__version__


def manifest_paths() -> list[str]:
    paths = [s["path"] for s in MANIFEST["surfaces"]] + [s["icon"] for s in MANIFEST["surfaces"] if "icon" in s]
    return paths + list(MANIFEST["endpoints"].values()) + list(MANIFEST["webhooks"].values())


@pytest.mark.parametrize("path", manifest_paths())
async def test_every_manifest_path_is_a_route_of_the_app(client: TestClient[Any, Any], path: str) -> None:
    routes = {r.resource.canonical for r in client.app.router.routes() if r.resource is not None}
    if path.startswith("/static/"):
        response = await client.get(path)
        assert response.status == 200, path
    else:
        assert path in routes, f"{path} is in manifest.json but the app has no such route"
