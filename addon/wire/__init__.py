"""The wire contract: one pydantic model per JSON body and per Socket.IO payload, in and out.

What arrives from outside is parsed through an :class:`~addon.wire.base.Incoming` model (unknown fields refused,
no type coercion); what leaves is built as an :class:`~addon.wire.base.Outgoing` model. The OpenAPI document at
``/api/v1/openapi.json`` is generated from these same models (:mod:`addon.wire.document`), so a schema can't drift
from what is sent. This package imports neither aiohttp nor Socket.IO: services build its models, handlers parse
and render them.
"""
