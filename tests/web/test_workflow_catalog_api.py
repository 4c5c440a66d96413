"""The workflow catalogue over the API (issue 11 item 12): every process with its states, transitions, roles,
signature meanings and forms as JSON Schema — checked against the YAML, against the engine's own validation
(what one accepts the other accepts), and by driving a process from the catalogue alone."""

from datetime import date

import pytest
from jsonschema import Draft202012Validator
from sqlalchemy import text

from engine.values import ID_MAX
from tests.web.conftest import CATALOG, api_token, bearer_client


@pytest.fixture
def api(web):
    return bearer_client(web, api_token(web, "carbon@xiangfeng.example", name="catalogue"))


def test_every_process_is_listed_with_its_titles(web, api):
    listed = api.get("/api/v1/workflows")
    assert listed.status_code == 200
    keys = [item["key"] for item in listed.json()]
    assert sorted(keys) == sorted(CATALOG.current)
    nonconformity = next(item for item in listed.json() if item["key"] == "nonconformity")
    assert nonconformity["title"]["zh"] and nonconformity["title"]["en"] and nonconformity["clause"] == "10.1"
    assert web.client().get("/api/v1/workflows").status_code == 401
    assert api.get("/api/v1/workflows/no_such_process").status_code == 404


def test_the_description_is_the_yaml_and_each_form_a_valid_schema(api):
    for key in sorted(CATALOG.current):  # one app for every workflow: a fixture per workflow costs minutes
        _check_description(api, key)


def _check_description(api, key: str) -> None:
    workflow = CATALOG.current[key]
    described = api.get(f"/api/v1/workflows/{key}")
    assert described.status_code == 200
    body = described.json()
    assert [s["key"] for s in body["states"]] == list(workflow.spec.states)
    assert [t["trigger"] for t in body["transitions"]] == [t.trigger for t in workflow.spec.transitions]
    for out, spec in zip(body["transitions"], workflow.spec.transitions, strict=True):
        assert out["roles"] == list(spec.roles) and out["dest"] == spec.dest
        if spec.signature:
            assert out["signature_meaning"] == workflow.signature_meaning(spec.signature).model_dump()
        if spec.form:
            assert spec.form in body["forms"]
    assert body["start_form"] in body["forms"]
    for form_key, schema in body["forms"].items():
        Draft202012Validator.check_schema(schema)
        assert set(schema["properties"]) == {f.name for f in workflow.forms[form_key].fields}


def test_stored_records_fit_the_schema_of_their_start_form(web, api):
    for key in sorted(CATALOG.current):
        _check_stored_records(web, api, key)


def _check_stored_records(web, api, key: str) -> None:
    schema = api.get(f"/api/v1/workflows/{key}").json()
    form = CATALOG.current[key].create_form
    validator = Draft202012Validator(
        schema["forms"][form.key], format_checker=Draft202012Validator.FORMAT_CHECKER
    )
    with web.db.engine.connect() as connection:
        rows = connection.execute(text("SELECT data FROM record WHERE workflow_key = :k"), {"k": key}).all()
    import json

    for (data,) in rows:
        data = json.loads(data) if isinstance(data, str) else data
        submitted = {f.name: data[f.name] for f in form.fields if f.name in data}
        errors = [error.message for error in validator.iter_errors(submitted)]
        assert errors == [], (key, submitted)


def _from_schema(schema: dict, ids: dict[str, int]) -> object:
    """The least value the schema allows, as an integrator would build it from the catalogue."""
    kind = schema["type"]
    if "enum" in schema:
        return schema["enum"][0]
    if kind == "object":
        return {name: _from_schema(schema["properties"][name], ids) for name in schema["required"]}
    if kind == "array":
        return [_from_schema(schema["items"], ids) for _ in range(max(1, schema.get("minItems", 0)))]
    if kind == "integer":
        return ids[schema["x-reference"]]
    if kind == ["number", "string"]:
        return schema.get("minimum", 1)
    if schema.get("format") == "date":
        return date(2026, 11, 30).isoformat()
    return "A" * max(1, schema.get("minLength", 1)) if "pattern" not in schema else "JL-API-1"


def test_an_integrator_drives_a_process_from_the_catalogue_alone(web, api):
    with web.db.engine.connect() as connection:
        ids = {
            "user": connection.execute(
                text("SELECT id FROM user_account WHERE email = 'carbon@xiangfeng.example'")
            ).scalar_one(),
            "org_unit": connection.execute(text("SELECT min(id) FROM org_unit")).scalar_one(),
        }
    described = api.get("/api/v1/workflows/nonconformity").json()
    schema = described["forms"][described["start_form"]]
    payload = _from_schema(schema, ids)
    created = api.post("/api/v1/records", json={"workflow": "nonconformity", "data": payload})
    assert created.status_code == 201, created.text
    record = created.json()
    assert record["state"] == described["initial"]
    first = next(t for t in described["transitions"] if described["initial"] in t["source"])
    assert first["label"]["zh"] and set(first["roles"])
    # What the schema refuses, the engine refuses too, naming the same field.
    wrong = {**payload, "source": "not-a-choice"}
    assert list(Draft202012Validator(schema).iter_errors(wrong))
    refused = api.post("/api/v1/records", json={"workflow": "nonconformity", "data": wrong})
    assert refused.status_code == 422 and "data.source" in refused.text


def test_reference_fields_say_what_they_point_to(api):
    schema = api.get("/api/v1/workflows/metering_instrument").json()["forms"]["mi_register"]
    assert schema["properties"]["facility"]["x-reference"] == "org_unit"
    assert schema["properties"]["facility"]["maximum"] == ID_MAX
    assert schema["properties"]["code"]["x-unique"] is True
    assert schema["properties"]["instrument_type"]["x-choices"][0]["zh"]
