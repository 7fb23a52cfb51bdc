import pytest

from b24sync.sandbox.onec import OneCSandbox


@pytest.fixture(scope="module")
def sb():
    sandbox = OneCSandbox(user="odata", password="secret", base="trade")
    sandbox.start()
    yield sandbox
    sandbox.stop()


@pytest.fixture()
def fresh():
    sandbox = OneCSandbox(user="Администратор", password="пароль", base="erp")
    sandbox.start()
    yield sandbox
    sandbox.stop()
