"""CommerceML 2.x / 3.x: streaming reader, order writer/back-sync reader, and the site side of 1C's HTTP exchange.

Public API (see docs/connector-commerceml.md):

* :class:`CommerceMLReader` / :func:`read` / :func:`open_any` — typed records from XML files and zip packages.
* :func:`write_documents`, :func:`order_requisites` — orders for 1C; :func:`read_order_changes` — what 1C sends back.
* :func:`b24sync.connectors.commerceml.exchange.create_exchange_router` — FastAPI router for ``type=catalog|sale``.
"""

from b24sync.connectors.commerceml.model import (  # noqa: F401
    Address, Counterparty, Counts, Document, DocumentLine, FileInfo, Group, Offer, Package, Price, PriceType,
    Product, Property, PropertyValue, Record, Stock, Tax, TaxRate, Unit, Warehouse,
)
from b24sync.connectors.commerceml.orders import (  # noqa: F401
    OrderChange, order_change, order_requisites, read_documents, read_order_changes, write_documents,
)
from b24sync.connectors.commerceml.reader import CommerceMLReader, count, open_any, read  # noqa: F401
from b24sync.connectors.commerceml.safety import CommerceMLError, UnsafeXMLError  # noqa: F401
