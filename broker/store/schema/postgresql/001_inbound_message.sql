-- Messages as received from participants, before routing (DESIGN.md, Reliability model: ACK
-- after commit, idempotent on MSH-10). One row per accepted message; a redelivery with the same
-- dedupe_key finds the existing row instead of adding one.
CREATE TABLE inbound_message (
  id             BIGSERIAL PRIMARY KEY,
  received_at    BIGINT NOT NULL,                    -- UTC milliseconds since the epoch
  sender         TEXT   NOT NULL,                    -- participant ODS code
  protocol       TEXT   NOT NULL CHECK (protocol IN ('hl7v2', 'fhir')),
  message_type   TEXT   NOT NULL,                    -- 'ADT^A01', FHIR event code
  control_id     TEXT   NOT NULL,                    -- MSH-10 or Bundle.id
  dedupe_key     TEXT   NOT NULL,                    -- sender|MSH-3|MSH-4|MSH-10, by the caller
  content_sha256 TEXT   NOT NULL CHECK (length(content_sha256) = 64),
  nhs_number     TEXT,                               -- NULL when the message names no patient
  payload        BYTEA  NOT NULL,
  CONSTRAINT inbound_message_dedupe_key UNIQUE (dedupe_key)
);

-- Per-patient ordering: a patient's messages in arrival order.
CREATE INDEX inbound_message_patient ON inbound_message (nhs_number, id)
  WHERE nhs_number IS NOT NULL;

-- Retention and purge by age; time-window queries for operators.
CREATE INDEX inbound_message_received_at ON inbound_message (received_at);

-- "Did we get control id X from trust Y?"
CREATE INDEX inbound_message_sender_control ON inbound_message (sender, control_id);
