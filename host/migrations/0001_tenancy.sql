-- Tenants, their API keys, plugins (content-addressed versions) and routes.
-- One migration set for SQLite and PostgreSQL: portable types only (TEXT, BIGINT,
-- BYTEA, which SQLite stores as a blob), times as Unix milliseconds, flags as 0/1.

CREATE TABLE tenants (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    disabled    BIGINT NOT NULL DEFAULT 0,
    -- JSON: runtime::Limits (absent fields: the operator's defaults)
    limits      TEXT NOT NULL DEFAULT '{}',
    -- JSON object of strings handed to the plugin in its context
    config      TEXT NOT NULL DEFAULT '{}',
    -- JSON object of strings handed to the plugin, never logged or listed
    secrets     TEXT NOT NULL DEFAULT '{}',
    created_ms  BIGINT NOT NULL
);

CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    -- hex SHA-256 of the secret part (the secret is random: no slow hash needed)
    secret_hash TEXT NOT NULL,
    created_ms  BIGINT NOT NULL,
    revoked_ms  BIGINT
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id);

-- Component bytes by SHA-256 (hex).
CREATE TABLE blobs (
    sha256      TEXT PRIMARY KEY,
    bytes       BYTEA NOT NULL
);

CREATE TABLE plugins (
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    name        TEXT NOT NULL,
    active      TEXT,
    previous    TEXT,
    created_ms  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, name)
);

CREATE TABLE plugin_versions (
    tenant_id   TEXT NOT NULL,
    plugin      TEXT NOT NULL,
    sha256      TEXT NOT NULL REFERENCES blobs (sha256),
    size        BIGINT NOT NULL,
    created_ms  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, plugin, sha256),
    FOREIGN KEY (tenant_id, plugin) REFERENCES plugins (tenant_id, name)
);

-- A phone number (E.164) or an ACS identity (raw id) → the tenant's plugin.
CREATE TABLE routes (
    address     TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL,
    plugin      TEXT NOT NULL,
    created_ms  BIGINT NOT NULL,
    FOREIGN KEY (tenant_id, plugin) REFERENCES plugins (tenant_id, name)
);
CREATE INDEX routes_tenant ON routes (tenant_id);
