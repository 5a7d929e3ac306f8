-- Each usage record carries the id it was made with (16 bytes), so that a batch written again
-- after an ambiguous failure (committed, answer lost) or replayed from a node's spool is stored
-- once: inserts skip ids already present. Rows from before have none (NULLs never conflict).
ALTER TABLE usage_records ADD COLUMN record_id BLOB;
CREATE UNIQUE INDEX usage_records_by_record_id ON usage_records (record_id);
