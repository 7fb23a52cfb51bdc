import json

import httpx
import pytest

from b24sync.connectors.onec.odata.errors import (
    ODataHandlerError,
    error_from_response,
    error_from_transport,
    parse_error_body,
)
from b24sync.engine.errors import AuthError, ConflictError, NotFoundError, PermanentError, RetryableError, ValidationError


def body(code, text):
    return json.dumps({"odata.error": {"code": code, "message": {"lang": "ru", "value": text}}},
                      ensure_ascii=False).encode()


@pytest.mark.parametrize("status,code,text,cls", [
    (400, "1", "Не удалось разобрать строку 'x' как значение типа Edm.Guid!", ValidationError),
    (400, "6", "Сегмент пути Foo не найден!", ValidationError),
    (400, "14", "Ошибка при разборе опции запроса $filter", ValidationError),
    (400, "13", "Создание строк табличной части напрямую не поддерживается", ValidationError),
    (404, "9", "Экземпляр сущности не найден", NotFoundError),
    (500, "-1", "Произошла внутренняя ошибка OData сервиса", RetryableError),
    (500, "-1", "Ошибка при выполнении обработчика - 'ПриЗаписи'", ODataHandlerError),
    (503, None, "", RetryableError),
    (412, None, "", ConflictError),
    (428, None, "", PermanentError),
])
def test_mapping(status, code, text, cls):
    err = error_from_response(status, httpx.Headers(), body(code, text) if code else b"", context="GET X")
    assert isinstance(err, cls)
    if code:
        assert err.detail["code"] == code
        assert f"code {code}" in err.reason


def test_auth_html_body():
    err = error_from_response(401, httpx.Headers(), b"<html><body>401.5 Unauthorized</body></html>", context="GET X")
    assert isinstance(err, AuthError)
    assert "credentials" in err.reason
    assert isinstance(error_from_response(403, httpx.Headers(), b"", context="x"), AuthError)


def test_retry_after_and_csrf():
    err = error_from_response(429, httpx.Headers({"Retry-After": "7"}), b"", context="x")
    assert isinstance(err, RetryableError) and err.retry_after == 7
    err = error_from_response(403, httpx.Headers({"X-CSRF-Token": "Required"}), b"", context="x")
    assert err.detail.get("csrf_required")


def test_parse_other_shapes():
    assert parse_error_body(b'{"error": {"code": "SY/530", "message": {"lang": "en", "value": "boom"}}}') == ("SY/530", "boom")
    assert parse_error_body(b'{"error": {"code": "0x80072322", "message": "limit"}}') == ("0x80072322", "limit")
    atom = b'<?xml version="1.0"?><m:error xmlns:m="x"><m:code>9</m:code><m:message xml:lang="ru">nf</m:message></m:error>'
    assert parse_error_body(atom) == ("9", "nf")
    assert parse_error_body(b"garbage") == (None, None)


def test_long_text_truncated_in_reason():
    err = error_from_response(400, httpx.Headers(), body("14", "x" * 1000), context="GET X")
    assert len(err.reason) < 300
    assert len(err.detail["message"]) == 1000


def test_transport_errors_retryable():
    assert isinstance(error_from_transport(httpx.ReadTimeout("t"), context="x"), RetryableError)
    assert isinstance(error_from_transport(httpx.ConnectError("c"), context="x"), RetryableError)
