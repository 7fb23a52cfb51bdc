"""A bank client's side: statements in the 1CClientBankExchange 1.03 text format (erp-side.md §4.4), generated for
demos and rehearsals. Written from the format description, independently of the reader in connectors/."""

from b24sync.sandbox.bank.statements import sample_statement

__all__ = ["sample_statement"]
