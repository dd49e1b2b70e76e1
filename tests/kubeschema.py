"""Kubernetes documents validated against Kubernetes' own OpenAPI schema (tests/data/kubernetes-openapi),
as `kubectl apply --dry-run=client --validate=strict` validates them: each field one its schema
knows (an unknown one is an error, strict's), of its type, the required ones there, and the
document's apiVersion and kind the schema's."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

SCHEMA = Path(__file__).parent / "data" / "kubernetes-openapi" / "definitions.json"
KINDS = {("v1", "Pod"): "io.k8s.api.core.v1.Pod", ("apps/v1", "Deployment"): "io.k8s.api.apps.v1.Deployment",
         ("v1", "ConfigMap"): "io.k8s.api.core.v1.ConfigMap"}  # fmt: skip
INT32 = 2**31


@cache
def definitions() -> dict[str, Any]:
    return dict(json.loads(SCHEMA.read_text())["definitions"])


def validate(doc: object) -> list[str]:
    """What is wrong with doc (nothing: [])."""
    if not isinstance(doc, dict):
        return ["the document is not an object"]
    name = KINDS.get((doc.get("apiVersion"), doc.get("kind")))  # type: ignore[arg-type]
    if name is None:
        return [f"no schema of apiVersion {doc.get('apiVersion')!r} kind {doc.get('kind')!r}"]
    group, _, version = str(doc["apiVersion"]).rpartition("/")
    kinds = definitions()[name]["x-kubernetes-group-version-kind"]
    assert {"group": group, "kind": doc["kind"], "version": version} in kinds
    errors: list[str] = []
    _check(doc, {"$ref": f"#/definitions/{name}"}, "", errors)
    return errors


def _check(value: Any, schema: dict[str, Any], path: str, errors: list[str]) -> None:
    if "$ref" in schema:
        schema = definitions()[schema["$ref"].removeprefix("#/definitions/")]
    kind, form = schema.get("type"), schema.get("format")
    where = path or "."
    if form == "int-or-string":
        if not (isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))):
            errors.append(f"{where}: not an integer or a string")
        return
    if kind == "object":
        if not isinstance(value, dict):
            errors.append(f"{where}: not an object")
            return
        properties = schema.get("properties")
        for key, item in value.items():
            if properties is not None:
                if key not in properties:
                    errors.append(f"{path}.{key}: unknown field")
                else:
                    _check(item, properties[key], f"{path}.{key}", errors)
            elif "additionalProperties" in schema:
                _check(item, schema["additionalProperties"], f"{path}.{key}", errors)
        for key in schema.get("required", []):
            if key not in value:
                errors.append(f"{path}.{key}: required, missing")
    elif kind == "array":
        if not isinstance(value, list):
            errors.append(f"{where}: not an array")
            return
        for i, item in enumerate(value):
            _check(item, schema.get("items", {}), f"{path}[{i}]", errors)
    elif kind == "string":
        if not isinstance(value, str):
            errors.append(f"{where}: not a string")
    elif kind == "integer":
        if not isinstance(value, int) or isinstance(value, bool):
            errors.append(f"{where}: not an integer")
        elif form == "int32" and not -INT32 <= value < INT32:
            errors.append(f"{where}: out of int32's range")
    elif kind == "boolean":
        if not isinstance(value, bool):
            errors.append(f"{where}: not a boolean")
    elif kind == "number":
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            errors.append(f"{where}: not a number")
    elif kind is not None:
        errors.append(f"{where}: a schema of type {kind} this validator does not know")
