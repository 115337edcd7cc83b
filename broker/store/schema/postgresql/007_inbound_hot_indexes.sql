-- Two indexes of 001 that nothing reads, dropped because every stored message paid for them: each
-- is keyed at random (patient; sender + control id), so each message wrote one more index page
-- into the commit (docs/hl7v2-ingest.md, Performance). Per-patient order is kept by the outbound
-- queue (outbound_message.nhs_number, migration 005), and "did trust Y send control id X?" is
-- answered by the dedupe key (sender|MSH-3|MSH-4|MSH-10, unique and indexed) or a scan.
DROP INDEX IF EXISTS inbound_message_patient;
DROP INDEX IF EXISTS inbound_message_sender_control;
