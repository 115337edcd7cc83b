-- A hop's destination is indexed only when it is not also the hop's source or requester: a
-- query hop names the trust it asked as both (custodian and informant), a response hop names
-- the requester as both. Those entries were redundant for the agent search, which matches
-- requester OR source OR destination (sql_ledger_store.cpp asks the destination index only for
-- rows this index holds), and costly: a federated search over ten trusts wrote ten more index
-- pages into its ledger commit, one per trust's key range (docs/ledger.md, Performance).
DROP INDEX IF EXISTS ledger_record_destination;
CREATE INDEX ledger_record_destination ON ledger_record (destination_ods, seq)
  WHERE destination_ods IS NOT NULL
    AND destination_ods IS DISTINCT FROM source_ods
    AND destination_ods IS DISTINCT FROM requester_ods;
