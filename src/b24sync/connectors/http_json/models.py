"""Declarative configuration of a generic HTTP/JSON system (pydantic models the spec embeds).

    type: http-json           # the keys below are flat under the system (no `config:`)
    base_url: https://erp.example/api
    auth: {type: header, header: X-Api-Key, value_env: ERP_API_KEY}
    objects:
      orders:
        get:    {method: GET, path: "/orders/{id}", record: "data"}
        find:   {method: GET, path: "/orders", query: {number: "{criteria.number}"}, items: "data.items"}
        create: {method: POST, path: "/orders", body: {"order": "{values}"}, id: "data.id"}
        update: {method: PATCH, path: "/orders/{id}", body_fields: {"order.status": "values.status"},
                 version_guard: if-match}
        changes: {method: GET, path: "/orders", query: {since: "{since}", limit: "{limit}", page: "{token}"},
                  items: "data.items", modified: "updated_at", paging: {type: page}}

Template context: ``id``, ``values`` (create/update), ``criteria`` (find/exists), ``expected_version``,
``since`` (cursor time minus overlap, ISO), ``token`` (cursor token), ``limit``, ``ack`` (acknowledge),
``ids`` (acknowledge: the page's record ids), ``env`` (never: secrets only through ``auth``).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from b24sync.connectors.http_json.paths import parse_path, placeholders

Method = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AuthConfig(_Strict):
    """``none``; ``header`` (any header, value from an env var, optional prefix such as ``Token ``); ``basic``
    (username, password from env); ``bearer`` (token from env). Secrets are read from the environment at build time
    and never stored in the spec."""

    type: Literal["none", "header", "basic", "bearer"] = "none"
    header: str = "Authorization"
    prefix: str = ""
    value_env: str | None = None
    username: str | None = None
    username_env: str | None = None
    password_env: str | None = None
    token_env: str | None = None

    @model_validator(mode="after")
    def _complete(self) -> AuthConfig:
        if self.type == "header" and not self.value_env:
            raise ValueError("auth type header needs value_env")
        if self.type == "basic" and not ((self.username or self.username_env) and self.password_env):
            raise ValueError("auth type basic needs username (or username_env) and password_env")
        if self.type == "bearer" and not self.token_env:
            raise ValueError("auth type bearer needs token_env")
        return self


class Paging(_Strict):
    """How ``changes`` continues: ``none``; ``offset`` (token = next offset); ``page`` (token = next page number,
    starting at ``first_page``); ``cursor`` (token read from ``next`` in the response); ``link`` (a next URL read
    from ``next``)."""

    type: Literal["none", "offset", "page", "cursor", "link"] = "none"
    next: str | None = None
    first_page: int = 1

    @model_validator(mode="after")
    def _next_needed(self) -> Paging:
        if self.type in ("cursor", "link") and not self.next:
            raise ValueError(f"paging {self.type} needs next (the response path of the continuation)")
        return self


class Operation(_Strict):
    method: Method = "GET"
    path: str
    query: dict[str, str] = Field(default_factory=dict)
    criteria_query: bool = False  # find/exists: also send every criteria item as ?field=value
    headers: dict[str, str] = Field(default_factory=dict)
    body: Any = None
    body_fields: dict[str, str] = Field(default_factory=dict)  # body path -> context path
    # response
    items: str | None = None  # path of the list of records (list ops); "" = the body itself is the list
    record: str | None = None  # path of the single record (get/create/update); None = the body
    id: str | None = "id"  # path of the id inside a record
    version: str | None = None
    modified: str | None = None
    deleted: str | None = None
    fields: dict[str, str] | None = None  # output field -> path inside the record; None = the record as is
    paging: Paging = Field(default_factory=Paging)
    max_limit: int | None = Field(None, ge=1)  # changes: the largest page the API serves ({limit} is capped to it)
    version_guard: Literal["none", "if-match", "compare"] = "none"
    ok_status: list[int] | None = None  # default: any 2xx
    not_found_status: list[int] = Field(default_factory=lambda: [404])
    error_message: str | None = None  # path of a human message in error bodies ("error.message")
    timeout: float | None = None

    @field_validator("items", "record", "id", "version", "modified", "deleted", "error_message")
    @classmethod
    def _valid_path(cls, v: str | None) -> str | None:
        if v:
            parse_path(v)
        return v

    @field_validator("fields", "body_fields")
    @classmethod
    def _valid_paths(cls, v: dict[str, str] | None) -> dict[str, str] | None:
        for p in (v or {}).values():
            parse_path(p)
        return v

    @field_validator("path")
    @classmethod
    def _relative(cls, v: str) -> str:
        if "://" in v:
            raise ValueError("operation path must be relative to base_url")
        for p in placeholders(v):
            parse_path(p)
        return v


OperationName = Literal["changes", "get", "find", "exists", "create", "update", "delete", "ack"]


class ObjectOperations(_Strict):
    changes: Operation | None = None
    get: Operation | None = None
    find: Operation | None = None
    exists: Operation | None = None
    create: Operation | None = None
    update: Operation | None = None
    delete: Operation | None = None
    ack: Operation | None = None


class HttpJsonConfig(_Strict):
    base_url: str
    auth: AuthConfig = Field(default_factory=AuthConfig)
    headers: dict[str, str] = Field(default_factory=dict)
    timeout: float = 30.0
    verify_tls: bool = True
    objects: dict[str, ObjectOperations] = Field(default_factory=dict)

    @field_validator("base_url")
    @classmethod
    def _http(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("base_url must be http(s)://…")
        return v.rstrip("/")


__all__ = ["AuthConfig", "HttpJsonConfig", "ObjectOperations", "Operation", "OperationName", "Paging"]
