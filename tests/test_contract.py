"""One listing contract: the table of core fields (engine.fields.LISTING), listing.proto, the
validator and the proto conversion agree, so that a field added in one place and forgotten in
another fails here rather than being dropped silently."""

from __future__ import annotations

from collections.abc import Mapping

from google.protobuf.descriptor import Descriptor, FieldDescriptor

from tamis.engine.fields import LISTING, CoreField, Kind
from tamis.engine.listing import _HANDLERS, validate_listing
from tamis.service.server.convert import listing_from_proto, listing_to_proto
from tamis.v1 import listing_pb2
from tests.conftest import samples

_SCALARS = {
    FieldDescriptor.TYPE_STRING: Kind.STRING,
    FieldDescriptor.TYPE_DOUBLE: Kind.NUMBER,
    FieldDescriptor.TYPE_BOOL: Kind.BOOL,
}


def disagreements(table: Mapping[str, CoreField], message: Descriptor, prefix: str = "") -> list[str]:
    """Where the table and the message differ: names, order, kinds, nesting."""
    found = []
    if list(table) != [field.name for field in message.fields]:
        found.append(
            f"{prefix or 'Listing'}: table {list(table)} vs proto {[f.name for f in message.fields]}"
        )
    for field in message.fields:
        spec = table.get(field.name)
        if spec is None:
            continue
        path = prefix + field.name
        if field.message_type is not None:
            if spec.kind is not Kind.OBJECT:
                found.append(f"{path}: a message in proto, {spec.kind} in the table")
            elif field.message_type.full_name == "google.protobuf.Struct":
                if spec.children:
                    found.append(f"{path}: a Struct in proto, fixed fields in the table")
            else:
                found += disagreements(spec.children, field.message_type, path + ".")
        elif field.is_repeated:
            if spec.kind is not Kind.STRINGS:
                found.append(f"{path}: repeated in proto, {spec.kind} in the table")
        elif _SCALARS.get(field.type) is not spec.kind:
            found.append(f"{path}: proto type {field.type}, {spec.kind} in the table")
        elif spec.kind is not Kind.STRING and not field.has_presence:
            found.append(f"{path}: a {spec.kind} needs `optional` in proto, so that absent is not 0")
    return found


def test_listing_proto_and_the_table_agree() -> None:
    assert disagreements(LISTING, listing_pb2.Listing.DESCRIPTOR) == []


def test_the_check_of_a_mismatch_fails() -> None:
    """The comparison is not vacuous: a table with one field more, or one of another kind, differs."""
    extra = {**LISTING, "colour": CoreField(Kind.STRING, "A field only the table knows.")}
    assert any("colour" in line for line in disagreements(extra, listing_pb2.Listing.DESCRIPTOR))
    retyped = {**LISTING, "gtin": CoreField(Kind.NUMBER, "GTIN as a number.")}
    assert disagreements(retyped, listing_pb2.Listing.DESCRIPTOR) == [
        "gtin: proto type 9, number in the table"
    ]


def test_every_field_of_the_table_is_checked() -> None:
    assert set(_HANDLERS) == set(LISTING)


def test_listings_go_through_proto_and_back_unchanged() -> None:
    """Every sample, and one with every field, reads back from its message as it was written."""
    full = {
        "id": "c1",
        "title": "Widget",
        "description": "d",
        "category": "c",
        "brand": "b",
        "gtin": "12345678",
        "price": {"amount": 0.0, "currency": "EUR"},
        "attributes": {"height_cm": 95, "contains": ["lead"], "ce_marking": False},
        "seller": {
            "id": "s",
            "name": "n",
            "country": "CN",
            "trader": {"name": "t", "address": "a", "registration_number": "r", "self_certified": False},
        },
        "ship_to": ["FR", "DE"],
        "marketplace": "m",
        "listed_at": "2025-11-20T09:12:00Z",
    }
    assert set(full) == set(LISTING)
    for listing in [*samples(), full]:
        assert listing_from_proto(listing_to_proto(listing)) == listing
        validate_listing(listing)
