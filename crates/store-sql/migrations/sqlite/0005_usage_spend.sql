-- Spend: the cached input tokens a request's provider reported (part of input_tokens) and what
-- the request cost, in billionths of a US dollar (integers sum exactly). The cost is NULL when
-- the model had no known price, never 0; rows from before have NULL. Only numbers are stored:
-- the price a cost was computed from is not copied into each row.
ALTER TABLE usage_records ADD COLUMN cache_read_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE usage_records ADD COLUMN cache_write_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE usage_records ADD COLUMN cost_nano_usd INTEGER;
