"""Kontur.Buhgalteria connector: a Protocol of the operations a flow needs, VAT arithmetic, and an implementation
over the generic declarative HTTP/JSON adapter (the vendor API is not public — see docs/kontur-buhgalteria.md)."""
