-- When an operator last replayed a dead item (UTC ms; NULL: never). The delivery worker's
-- max_age (docs/queue.md) counts from here for a replayed item, else from created_at: a replayed
-- message older than max_age would otherwise go dead again at its first transient failure.
ALTER TABLE outbound_message ADD COLUMN replayed_at INTEGER;
