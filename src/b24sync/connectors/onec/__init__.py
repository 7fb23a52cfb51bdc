"""1C:Enterprise connectors: the standard OData interface (``odata``) and configuration HTTP services (``http``)."""
