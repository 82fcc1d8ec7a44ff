-- The dashboard's read-only role: it may read every table of the platform and nothing else.
--
-- Run it once per database, as the role that creates the platform's tables (the pipeline's role),
-- so the default privileges cover the tables that role creates later:
--   psql "postgresql://OWNER@HOST/DB" -v ON_ERROR_STOP=1 -f dashboard/sql/readonly_role.sql
-- or scripts/create_readonly_role.sh, which also sets a password from LEADSCORE_READER_PASSWORD.
-- Then run the dashboard with
--   LEADSCORE_DASHBOARD_DATABASE_URL=postgresql+psycopg://leadscore_reader:PASSWORD@HOST/DB
-- Safe to run again: every statement is idempotent.

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'leadscore_reader') THEN
        CREATE ROLE leadscore_reader LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT;
    END IF;
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO leadscore_reader', current_database());
END
$$;

-- Even a mistaken statement cannot write: every transaction of this role starts read-only.
ALTER ROLE leadscore_reader SET default_transaction_read_only = on;

GRANT USAGE ON SCHEMA public TO leadscore_reader;
REVOKE CREATE ON SCHEMA public FROM leadscore_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO leadscore_reader;
GRANT SELECT ON ALL SEQUENCES IN SCHEMA public TO leadscore_reader;

-- Tables the current role creates later (a new release's tables) are readable too.
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO leadscore_reader;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON SEQUENCES TO leadscore_reader;
