-- Calls in progress: what a host needs to continue a call after a restart, or on
-- another replica. A call is handled by one replica at a time (its owner, while its
-- lease holds); events reach it through the inbox, whichever replica received them.
CREATE TABLE live_calls (
    -- The callback token (random, secret): the service posts the call's events to
    -- /callbacks/{token}.
    token           TEXT PRIMARY KEY,
    -- The IncomingCall's event id: one call per ring, however many replicas it reached.
    incoming_event  TEXT NOT NULL UNIQUE,
    tenant_id       TEXT NOT NULL,
    -- The plugin version the call is pinned to.
    plugin_sha256   TEXT NOT NULL,
    server_call_id  TEXT NOT NULL,
    owner           TEXT NOT NULL,
    lease_ms        BIGINT NOT NULL,
    -- JSON: the worker's state (snapshot, plugin state, ordering, the last decision's
    -- actions with their repeatability ids).
    state           TEXT NOT NULL,
    ended           BIGINT NOT NULL DEFAULT 0,
    updated_ms      BIGINT NOT NULL
);
CREATE INDEX live_calls_owner ON live_calls (owner, ended);
CREATE INDEX live_calls_lease ON live_calls (ended, lease_ms);

-- Events accepted for a call and not yet handled (done = 0), and those handled (kept
-- while the call lives: a redelivery of any of them is a duplicate).
CREATE TABLE call_inbox (
    token       TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    -- Unix microseconds at the receiving replica: the order events are handled in.
    at_us       BIGINT NOT NULL,
    -- JSON: the event as received.
    body        TEXT NOT NULL,
    done        BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (token, event_id)
);
CREATE INDEX call_inbox_pending ON call_inbox (token, done, at_us);
