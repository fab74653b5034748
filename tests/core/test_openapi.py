"""The OpenAPI document is valid 3.1 and matches the routes the app really serves under /api/v1."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient


def served_api_operations(client: TestClient[Any, Any]) -> set[tuple[str, str]]:
    operations = set()
    for route in client.app.router.routes():
        resource = route.resource
        if resource is None or not resource.canonical.startswith("/api/v1/") or route.method in ("HEAD", "OPTIONS"):
            continue
        operations.add((resource.canonical, route.method.lower()))
    return operations


async def test_the_document_is_served_and_describes_exactly_the_api(client: TestClient[Any, Any]) -> None:
    response = await client.get("/api/v1/openapi.json")
    assert response.status == 200
    document = await response.json()
    assert document["openapi"] == "3.1.0"
    documented = {(path, method) for path, item in document["paths"].items() for method in item}
    assert documented == served_api_operations(client)


async def test_every_reference_resolves(client: TestClient[Any, Any]) -> None:
    document = await (await client.get("/api/v1/openapi.json")).json()
    refs: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "$ref":
                    refs.append(value)
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document)
    assert refs
    for ref in refs:
        assert ref.startswith("#/components/schemas/")
        assert ref.rsplit("/", 1)[1] in document["components"]["schemas"], ref
