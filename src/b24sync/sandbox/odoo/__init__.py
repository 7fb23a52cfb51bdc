"""A faithful local Odoo: JSON-RPC, XML-RPC, the web client's JSON routes and JSON-2, over an in-memory database
with the ORM rules a client observes (see app.py and db.py)."""
