-- The record locator: which participants hold data for an NHS number (DESIGN.md routing). Learnt
-- from the messages that pass (a trust's ADT announces it holds that patient) and from the admin
-- endpoint. One row per (patient, participant); an announcement refreshes last_seen.
CREATE TABLE record_locator (
  nhs_number TEXT   NOT NULL CHECK (length(nhs_number) = 10),
  ods        TEXT   NOT NULL,                  -- participant ODS code
  source     TEXT   NOT NULL,                  -- 'hl7v2:ADT^A01', 'admin', ...
  first_seen BIGINT NOT NULL,                  -- UTC milliseconds since the epoch
  last_seen  BIGINT NOT NULL,
  PRIMARY KEY (nhs_number, ods)
);
