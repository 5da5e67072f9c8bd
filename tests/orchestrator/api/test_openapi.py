"""The OpenAPI document at /openapi.json: valid OpenAPI 3, every $ref resolves, and the error
responses it describes are the problem documents the API answers."""
from __future__ import annotations

import pytest
from openapi_spec_validator import validate

from orchestrator.api.problems import PROBLEM_CONTENT_TYPE

PROBLEM_REF = "#/components/schemas/Problem"


@pytest.fixture
def document(sqlite_app):
    response = sqlite_app.test_client().get("/openapi.json")
    assert response.status_code == 200
    return response.get_json()


def refs(node, where="#"):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield where, value
            else:
                yield from refs(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from refs(value, f"{where}/{index}")


def resolve(document, pointer: str):
    assert pointer.startswith("#/"), f"{pointer} is not a local reference"
    node = document
    for part in pointer[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and part in node, f"{pointer} does not resolve (no {part!r})"
        node = node[part]
    return node


def operations(document):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in {"get", "put", "post", "patch", "delete"}:
                yield f"{method.upper()} {path}", operation


def test_the_document_is_valid_openapi_3(document):
    assert document["openapi"].startswith("3.")
    validate(document)


def test_every_ref_resolves(document):
    found = list(refs(document))
    assert found
    for where, pointer in found:
        try:
            resolve(document, pointer)
        except AssertionError as error:
            raise AssertionError(f"at {where}: {error}") from None


def test_the_event_endpoint_documents_one_event_or_a_batch(document):
    body = document["paths"]["/v1/events"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["oneOf"] == [{"$ref": "#/components/schemas/EventIn"}, {"$ref": "#/components/schemas/EventBatch"}]
    event = document["components"]["schemas"]["EventIn"]
    assert set(event["required"]) == {"external_id", "name"}
    batch = document["components"]["schemas"]["EventBatch"]
    assert batch["required"] == ["events"]
    assert batch["properties"]["events"]["items"] == {"$ref": "#/components/schemas/EventIn"}


def test_error_responses_are_problem_documents(document):
    problem = document["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"type", "title", "status"}
    assert {"detail", "errors"} <= set(problem["properties"])
    assert "Error" not in document["components"]["schemas"], "flask-smorest's own error schema is not what we answer"

    for name, response in document["components"]["responses"].items():
        assert list(response["content"]) == [PROBLEM_CONTENT_TYPE], name
        assert response["content"][PROBLEM_CONTENT_TYPE]["schema"] == {"$ref": PROBLEM_REF}, name
    assert document["components"]["responses"]["UNPROCESSABLE_ENTITY"]["description"] == "Unprocessable Content"

    for label, operation in operations(document):
        default = resolve(document, operation["responses"]["default"]["$ref"])
        assert default["content"][PROBLEM_CONTENT_TYPE]["schema"] == {"$ref": PROBLEM_REF}, label
        if "422" in operation["responses"]:
            unprocessable = resolve(document, operation["responses"]["422"]["$ref"])
            assert unprocessable["description"] == "Unprocessable Content", label


def test_path_ids_are_bounded_to_a_bigint(document):
    ids = [p for _, item in document["paths"].items() for p in item.get("parameters", [])
           if p["in"] == "path" and p["schema"]["type"] == "integer"]
    assert ids
    for parameter in ids:
        assert parameter["schema"]["minimum"] == 1 and parameter["schema"]["maximum"] == 2**63 - 1, parameter
