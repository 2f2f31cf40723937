-- Runs once, when the postgres volume is first initialised (docker-entrypoint-initdb.d).
-- One database per service: each service owns its schema and runs its own migrations.
-- They belong to POSTGRES_USER (the role this script runs as).
CREATE DATABASE panel;
CREATE DATABASE configurator;
CREATE DATABASE orchestrator;
CREATE DATABASE storage;
CREATE DATABASE identity;
