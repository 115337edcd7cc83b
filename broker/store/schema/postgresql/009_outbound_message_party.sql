-- The other patients of a queued message (docs/queue.md, Ordering rule). A message that names
-- more than one patient (ADT^A17 swaps two patients' beds, A40 merges one record into another)
-- is an outbound_message row in its routing key's partition and, for each other patient, a row
-- here: the item then waits for the older unfinished items of every partition it is in, and holds
-- the later items of all of them. Only such messages have rows here.
CREATE TABLE IF NOT EXISTS outbound_message_party (
  outbound_message_id BIGINT  NOT NULL REFERENCES outbound_message (id),
  destination         TEXT    NOT NULL,                   -- the item's own (for the index below)
  nhs_number          TEXT    NOT NULL,                   -- one of the message's other patients
  PRIMARY KEY (outbound_message_id, nhs_number)
);

-- "Is an older unfinished item in my partition as another patient?" (joined to outbound_message
-- for its status).
CREATE INDEX IF NOT EXISTS outbound_message_party_partition
  ON outbound_message_party (destination, nhs_number, outbound_message_id);
