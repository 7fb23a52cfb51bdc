"""1C HTTP services: an HTTP/JSON operations preset for ``/<base>/hs/<root>/…`` and the inbound event endpoint."""

from b24sync.connectors.onec.http.inbound import InboundEvent, inbound_router, sign, signed_headers
from b24sync.connectors.onec.http.preset import onec_http_config, onec_http_objects

__all__ = ["InboundEvent", "inbound_router", "onec_http_config", "onec_http_objects", "sign", "signed_headers"]
