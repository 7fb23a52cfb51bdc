"""b24sync — spec-driven sync between Bitrix24 CRM and ERP / accounting systems.

Layout (the architecture, in folders):
    spec/        the integration spec: YAML -> pydantic models, validation with line numbers, rendering
    engine/      the sync engine: durable queue, workers, scheduler, mapper, binder, ports (interfaces)
    store/       the state store: identity map, fingerprints, cursors, jobs, history, dead letters
    connectors/  adapters that speak each external system's real protocol
    flows/       business flows that combine connectors through the engine's ports
    sandbox/     faithful local emulators of the external systems
    server/      the HTTP server: webhook intake, health, metrics
    cli/         the `b24sync` command line
"""

__version__ = "0.1.0"
