"""Alembic environment: runs on the connection handed over by ``b24sync.store.db.migrate``."""

from alembic import context

from b24sync.store.models import Base

target_metadata = Base.metadata
connection = context.config.attributes.get("connection")

if connection is None:  # `alembic revision --autogenerate` from a developer shell
    from b24sync.store.db import make_engine

    with make_engine().connect() as conn:
        context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
else:
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    context.run_migrations()
