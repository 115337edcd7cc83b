-- The outbound queue (store-and-forward, docs/queue.md): one row per (inbound message,
-- destination), written in the same transaction as its inbound_message row. Ordering rule: only
-- the lowest id of a (destination, nhs_number) partition that is not delivered or discarded may be
-- claimed; a row without an NHS number is a partition of its own.
CREATE TABLE outbound_message (
  id                 INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: ids order arrivals
  inbound_message_id INTEGER NOT NULL REFERENCES inbound_message (id),
  destination        TEXT    NOT NULL,                   -- participant ODS code
  format             TEXT    NOT NULL CHECK (format IN ('hl7v2', 'fhir')),
  nhs_number         TEXT,                               -- NULL when the message names no patient
  status             TEXT    NOT NULL DEFAULT 'queued'
                     CHECK (status IN ('queued', 'in_flight', 'delivered', 'dead', 'discarded')),
  attempts           INTEGER NOT NULL DEFAULT 0,         -- failed attempts
  next_attempt_at    INTEGER NOT NULL,                   -- UTC ms; in_flight: = lease_until
  last_error         TEXT,                               -- of the last failure; never PHI
  created_at         INTEGER NOT NULL,                   -- UTC ms
  delivered_at       INTEGER,                            -- UTC ms
  lease_owner        TEXT,                               -- worker holding an in_flight row
  lease_until        INTEGER,                            -- UTC ms; then the row may be re-claimed
  CONSTRAINT outbound_message_route UNIQUE (inbound_message_id, destination, format)
);

-- "Is there an older unfinished row in my partition?" (the head test of the ordering rule).
CREATE INDEX outbound_message_partition ON outbound_message (destination, nhs_number, id)
  WHERE status IN ('queued', 'in_flight', 'dead');

-- Due rows (queued for now, or in_flight with an expired lease), oldest first.
CREATE INDEX outbound_message_due ON outbound_message (next_attempt_at, id)
  WHERE status IN ('queued', 'in_flight');

-- Dead letters for operators.
CREATE INDEX outbound_message_dead ON outbound_message (id) WHERE status = 'dead';

-- Payloads at rest: NULL = stored as received; else the id of the AES-256-GCM key that sealed
-- payload (nonce || ciphertext || tag, additional data = dedupe_key). See docs/queue.md.
ALTER TABLE inbound_message ADD COLUMN payload_key_id TEXT;
