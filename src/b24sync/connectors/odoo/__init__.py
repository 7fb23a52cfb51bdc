"""Odoo over JSON-2 / JSON-RPC (docs/connector-odoo.md)."""
