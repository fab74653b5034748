"""The two kinds of message on the wire, and parsing with errors in the contract's shape."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import ErrorDetails

from addon import input_limits
from addon.errors import InvalidFields, InvalidInput


class Incoming(BaseModel):
    """A message from outside (a request body, a client's Socket.IO payload).

    Unknown fields are refused and nothing is coerced ("80" is not an integer, ``true`` is not 1), so a client's
    typo is an error with its field rather than a setting silently ignored. ``messages`` words the error for a
    field whose value is missing or of the wrong type; the services still check meaning (a blank description, an
    amount below Stripe's minimum) with words of their own.
    """

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    messages: ClassVar[Mapping[str, str]] = {}
    unknown_field: ClassVar[str] = "'{field}' isn't something this accepts. Send only {allowed}."
    not_an_object: ClassVar[str] = "Send a JSON object."


class Outgoing(BaseModel):
    """A message the server sends. Built by the services; every field is declared, so the schema is complete."""

    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_serialization_defaults_required=True)

    def to_json(self) -> Any:
        return self.model_dump(mode="json")


In = TypeVar("In", bound=Incoming)

# Times as the API writes them (ISO 8601 UTC with "Z", see addon.models.iso_utc).
Timestamp = Annotated[str, Field(json_schema_extra={"format": "date-time"})]
# A time sent by a client: an ISO 8601 string with its offset (so strict mode is relaxed for this field only).
TimeIn = Annotated[AwareDatetime, Field(strict=False)]
Currency = Annotated[str, Field(pattern=r"^[a-z]{3}$", description="ISO 4217, lowercase, as Stripe writes it")]
MinorUnits = Annotated[int, Field(ge=0, description="An amount in the currency's minor unit (8000 is A$80.00)")]


def parse(model: type[In], data: object) -> In:
    """``data`` as ``model``, or :class:`InvalidInput` naming the first field at fault."""
    if not isinstance(data, dict):
        raise InvalidInput(model.not_an_object)
    input_limits.check(data, text=True)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise invalid_input(model, exc) from None


def invalid_input(model: type[Incoming], exc: ValidationError) -> InvalidInput:
    """Every problem the model found, in the contract's error shape (one: that problem; several: all of them)."""
    problems = [_problem(model, error) for error in exc.errors(include_url=False, include_input=False)]
    return problems[0] if len(problems) == 1 else InvalidFields(problems)


def _problem(model: type[Incoming], error: ErrorDetails) -> InvalidInput:
    location = [str(part) for part in error["loc"]]
    field = location[0] if location else None
    if field is None:
        return InvalidInput(model.not_an_object)
    if error["type"] == "extra_forbidden":
        allowed = ", ".join(f"'{name}'" for name in model.model_fields)
        return InvalidInput(model.unknown_field.format(field=field, allowed=allowed), field=field)
    words = model.messages.get(field)
    if words is None:
        words = f"Add '{field}'." if error["type"] == "missing" else f"Check '{field}': {error['msg'].lower()}."
    return InvalidInput(words, field=field)
