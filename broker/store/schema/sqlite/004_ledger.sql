-- The tamper-evident audit ledger (docs/ledger.md, issue 7). Rows are only ever inserted:
-- hash = SHA-256(prev_hash || canonical) links each record to the one before, and checkpoints
-- sign (record_count, head_hash) with the broker's key. The columns next to `canonical` repeat
-- values inside it, for queries (the journey by NHS number); verify checks they agree.
CREATE TABLE ledger_record (
  seq         INTEGER NOT NULL PRIMARY KEY,      -- 1, 2, 3, ... without gaps
  recorded_at INTEGER NOT NULL,                  -- UTC milliseconds since the epoch
  kind        TEXT    NOT NULL,                  -- inbound, delivery, query, response, refusal
  nhs_number  TEXT,                              -- NULL when the hop names no patient
  canonical   TEXT    NOT NULL,                  -- canonical JSON: Provenance + AuditEvent
  prev_hash   TEXT    NOT NULL,                  -- lowercase hex, 64 x '0' for seq 1
  hash        TEXT    NOT NULL
);

-- The patient's data journey, in order.
CREATE INDEX ledger_record_patient ON ledger_record (nhs_number, seq);

CREATE TABLE ledger_checkpoint (
  record_count INTEGER NOT NULL PRIMARY KEY,     -- the chain held this many records
  head_hash    TEXT    NOT NULL,                 -- hash of record `record_count`
  created_at   INTEGER NOT NULL,                 -- UTC milliseconds since the epoch (signed)
  key_id       TEXT    NOT NULL,                 -- hex SHA-256 of the signer's public key
  signature    TEXT    NOT NULL                  -- base64 DER ECDSA P-256 / SHA-256
);
