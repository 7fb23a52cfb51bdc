"""A reverse proxy that loses answers after the upstream applied a write (issue 13): put it in front of any sandbox."""

from b24sync.sandbox.faultproxy.proxy import LOSS_KINDS, FaultProxy, ProxyStats, is_write

__all__ = ["FaultProxy", "ProxyStats", "LOSS_KINDS", "is_write"]
