"""OData connector: 1C ``standard.odata`` first, SAP / Dynamics through dialects. See docs/connector-onec.md."""

from b24sync.connectors.onec.odata.adapter import ODataAdapter, from_config
from b24sync.connectors.onec.odata.client import ODataClient, Page
from b24sync.connectors.onec.odata.dialect import BUSINESS_CENTRAL, DATAVERSE, DIALECTS, ONEC, SAP, Dialect
from b24sync.connectors.onec.odata.filters import F, Guid, literal
from b24sync.connectors.onec.odata.presets import PRESETS, Preset

__all__ = [
    "BUSINESS_CENTRAL", "DATAVERSE", "DIALECTS", "ONEC", "SAP", "Dialect", "F", "Guid", "ODataAdapter",
    "ODataClient", "PRESETS", "Page", "Preset", "from_config", "literal",
]
