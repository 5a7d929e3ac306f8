-- Every metered request writes a row, so each index on usage_records is paid per request. A
-- model's usage is read through the workspace's (workspace, at) index, its rows in the time range
-- filtered by model: the per-model index saved little on reads and cost a B-tree insert per row.
DROP INDEX usage_records_by_model;
