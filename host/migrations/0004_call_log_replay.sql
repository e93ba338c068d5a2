-- What the plugin was given and what it decided, per event (JSON: `Recorded`), so a
-- call can be replayed against another plugin version (`switchboard plugin replay`).
ALTER TABLE call_events ADD COLUMN recorded TEXT;
