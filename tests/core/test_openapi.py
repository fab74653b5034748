"""The OpenAPI document is valid 3.1 and matches the routes the app really serves under /api/v1."""

from __future__ import annotations

from typing import Any

import jsonschema
from aiohttp.test_utils import TestClient

from addon.lifecycle import Status
from tests.support.contract import ContractCheck


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


# --- Generated from the wire models -------------------------------------------------------------------------

# CONTRACT.md's PaymentRequest, with its "Added" fields.
CONTRACT_PAYMENT_REQUEST = {
    "id",
    "call",
    "clinic",
    "clinician",
    "amount",
    "currency",
    "description",
    "status",
    "amount_refunded",
    "receipt_number",
    "created_at",
    "paid_at",
    "failure_message",
    "payable",
    "cancelable",
    "refundable",
    "receipt_available",
    "item_code",
    "capture",
    "amount_authorized",
    "payer",
    "refunds",
}


async def test_the_payment_request_schema_declares_every_field_the_contract_names(
    client: TestClient[Any, Any],
) -> None:
    document = await (await client.get("/api/v1/openapi.json")).json()
    schema = document["components"]["schemas"]["PaymentRequest"]
    assert set(schema["properties"]) >= CONTRACT_PAYMENT_REQUEST
    # Declared fields only: a field the server sends that the schema lacks fails every validation of it.
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == set(schema["properties"])
    status = document["components"]["schemas"]["Status"]
    assert schema["properties"]["status"] == {"$ref": "#/components/schemas/Status"}
    assert set(status["enum"]) == {str(s) for s in Status}
    assert {"requested", "authorized", "partially_refunded"} <= set(status["enum"])


async def test_socket_io_events_are_published_with_the_same_schemas(client: TestClient[Any, Any]) -> None:
    document = await (await client.get("/api/v1/openapi.json")).json()
    socket = document["x-socketio"]
    payloads = {name: item["payload"]["$ref"] for name, item in socket["server_to_client"].items()}
    assert payloads == {
        "payment_requests": "#/components/schemas/PaymentRequestList",
        "payment_request": "#/components/schemas/PaymentRequest",
        "payment_received": "#/components/schemas/PaymentRequest",
        "clinic_status": "#/components/schemas/ClinicStatus",
        "payments_available": "#/components/schemas/PaymentsAvailable",
        "payment_link": "#/components/schemas/PaymentLink",
        "participants": "#/components/schemas/Participants",
    }
    assert set(socket["client_to_server"]) == {
        "request_payment",
        "cancel_payment_request",
        "capture_payment_request",
        "release_payment_request",
    }
    request = document["components"]["schemas"]["RequestPayment"]
    assert {"amount", "description", "currency", "client_ref", "capture", "payer", "item_code", "confirm"} == set(
        request["properties"]
    )
    assert request["additionalProperties"] is False


async def test_every_schema_is_valid_json_schema_and_inputs_refuse_unknown_fields(
    client: TestClient[Any, Any],
) -> None:
    document = await (await client.get("/api/v1/openapi.json")).json()
    for name, schema in document["components"]["schemas"].items():
        jsonschema.Draft202012Validator.check_schema(schema)
        if schema.get("type") == "object" and name != "Status":
            assert schema.get("additionalProperties") is False, name


async def test_every_operation_answers_errors_in_the_contract_shape(client: TestClient[Any, Any]) -> None:
    document = await (await client.get("/api/v1/openapi.json")).json()
    for path, item in document["paths"].items():
        for method, operation in item.items():
            default = operation["responses"]["default"]["content"]["application/json"]["schema"]
            assert default == {"$ref": "#/components/schemas/Error"}, (method, path)


async def test_an_unknown_field_is_refused_with_its_name(client: TestClient[Any, Any]) -> None:
    response = await client.post("/api/v1/sessions", json={"launch": "x", "lunch": "y"})
    assert response.status == 400
    error = (await response.json())["error"]
    assert error["field"] == "lunch"
    assert "'lunch' isn't something this accepts" in error["message"] and "'launch'" in error["message"]


async def test_a_wrong_type_is_refused_rather_than_coerced(client: TestClient[Any, Any]) -> None:
    response = await client.post("/api/v1/sessions", json={"launch": 12345})
    assert response.status == 400
    assert (await response.json())["error"] == {
        "code": "invalid",
        "message": 'Send the launch token as {"launch": "…"}.',
        "field": "launch",
    }


def test_the_contract_check_catches_a_field_the_schema_does_not_declare() -> None:
    check = ContractCheck()
    check.event("payments_available", {"payments_available": True, "reason": None})
    assert check.failures == [] and check.count == 1
    check.event("payments_available", {"payments_available": True, "reason": None, "clinic": "leaked"})
    check.event("payments_available", {"payments_available": "yes", "reason": None})
    check.event("surprise", {})
    assert len(check.failures) == 3
    assert "Additional properties are not allowed ('clinic' was unexpected)" in check.failures[0]
    assert "'yes' is not of type 'boolean'" in check.failures[1]
