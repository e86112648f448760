"""The catalog API is documented in the OpenAPI schema, and the schema is valid without warnings."""

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db

PATHS = [
    "/api/catalog/entities",
    "/api/catalog/entities/by-query",
    "/api/catalog/entities/by-refs",
    "/api/catalog/entities/by-uid/{uid}",
    "/api/catalog/entities/by-name/{kind}/{namespace}/{name}",
    "/api/catalog/entity-facets",
    "/api/catalog/locations",
    "/api/catalog/locations/{location_id}",
    "/api/catalog/locations/by-entity/{kind}/{namespace}/{name}",
    "/api/catalog/refresh",
    "/api/catalog/validate-entity",
]


def test_the_schema_documents_every_catalog_endpoint(dana, token_client):
    schema = token_client(dana, scope="read").get("/api/schema/").json()
    assert set(PATHS) <= set(schema["paths"])
    by_query = schema["paths"]["/api/catalog/entities/by-query"]["get"]
    assert {p["name"] for p in by_query["parameters"]} >= {"filter", "fields", "limit", "orderField", "cursor", "fullTextFilterTerm"}
    assert schema["paths"]["/api/catalog/entities/by-uid/{uid}"]["delete"]["operationId"] == "deleteEntityByUid"
    assert {"bearerAuth", "cookieAuth"} <= set(schema["components"]["securitySchemes"])


def test_the_schema_validates_with_warnings_as_errors(tmp_path):
    # Raises SchemaGenerationError on any warning, and validates against the OpenAPI 3 spec.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))
    assert "/api/catalog/entities/by-query:" in (tmp_path / "schema.yaml").read_text()
