"""1C:Enterprise sandbox: standard OData interface, HTTP services, events and the CommerceML 1C side.

See docs/sandbox-onec.md. Never imported by the 1C connector (and vice versa).
"""

from b24sync.sandbox.onec.sandbox import OneCSandbox

__all__ = ["OneCSandbox"]
