-- The invocation log: every event a host handled, per call, in order.
CREATE TABLE call_events (
    server_call_id  TEXT NOT NULL,
    seq             BIGINT NOT NULL,
    tenant_id       TEXT NOT NULL,
    at_ms           BIGINT NOT NULL,
    event           TEXT NOT NULL,
    outcome         TEXT NOT NULL,
    fallback        BIGINT NOT NULL,
    -- JSON array of action kinds, in order
    actions         TEXT NOT NULL,
    failed          TEXT,
    plugin_us       BIGINT NOT NULL,
    total_us        BIGINT NOT NULL,
    PRIMARY KEY (server_call_id, seq)
);
CREATE INDEX call_events_tenant ON call_events (tenant_id, at_ms);
