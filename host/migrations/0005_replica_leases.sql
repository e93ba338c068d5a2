-- Leases per replica, not per call: a replica owns its calls while its one lease
-- holds, renewed by one write per tick. A lease on each call meant rewriting every
-- live call's row each tick, in one statement that held all their row locks while
-- it ran: each save of that replica's calls queued behind it, its whole connection
-- pool stalled a few times a minute, and each tick left a dead row version per call.
CREATE TABLE replica_leases (
    replica   TEXT PRIMARY KEY,
    -- Unix milliseconds; another replica may claim the calls after it.
    lease_ms  BIGINT NOT NULL
);
-- Each owner of a live call keeps the longest lease of its calls.
INSERT INTO replica_leases (replica, lease_ms)
    SELECT owner, MAX(lease_ms) FROM live_calls WHERE ended = 0 GROUP BY owner;
DROP INDEX live_calls_lease;
ALTER TABLE live_calls DROP COLUMN lease_ms;
-- The live calls, by owner: the claim looks at every live call each tick (a call
-- whose owner has no lease row is claimable too), ended ones are kept for an hour.
DROP INDEX live_calls_owner;
CREATE INDEX live_calls_live ON live_calls (owner) WHERE ended = 0;
