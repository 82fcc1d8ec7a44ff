"""Alembic environment: runs the revisions on the connection core.migrate.upgrade_database hands over.

The caller holds the migration lock and the transaction, so everything here runs inside them."""

from alembic import context

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run the migrations through core.migrate.upgrade_database (make_engine does on first "
                       "use); it passes the locked connection and the database's lead schema")

context.configure(connection=connection, target_metadata=None)
with context.begin_transaction():
    context.run_migrations()
