-- Search keys of the audit ledger (GET /fhir/Provenance, /fhir/AuditEvent; docs/ledger.md). Like
-- kind and nhs_number they repeat values inside `canonical` (the hop's agents by ODS code, the
-- produced resource, the AuditEvent outcome) and verify checks that they agree. Identifiers and
-- codes only, never a payload. Rows written before this migration keep NULL/0 here.
ALTER TABLE ledger_record ADD COLUMN requester_ods TEXT;
ALTER TABLE ledger_record ADD COLUMN source_ods TEXT;
ALTER TABLE ledger_record ADD COLUMN destination_ods TEXT;
ALTER TABLE ledger_record ADD COLUMN target TEXT;
ALTER TABLE ledger_record ADD COLUMN outcome INTEGER NOT NULL DEFAULT 0;

-- Each search walks one index in seq order (keyset paging, newest or oldest first). Partial
-- indexes: a hop names one to three agents, rarely a target, and mostly succeeds, so each append
-- adds only the index entries it needs (appends are the hot path).
CREATE INDEX ledger_record_time ON ledger_record (recorded_at);
CREATE INDEX ledger_record_requester ON ledger_record (requester_ods, seq)
  WHERE requester_ods IS NOT NULL;
CREATE INDEX ledger_record_source ON ledger_record (source_ods, seq)
  WHERE source_ods IS NOT NULL;
CREATE INDEX ledger_record_destination ON ledger_record (destination_ods, seq)
  WHERE destination_ods IS NOT NULL;
CREATE INDEX ledger_record_target ON ledger_record (target, seq) WHERE target IS NOT NULL;
CREATE INDEX ledger_record_failure ON ledger_record (outcome, seq) WHERE outcome <> 0;
