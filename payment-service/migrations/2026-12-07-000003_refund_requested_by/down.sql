ALTER TABLE refunds DROP COLUMN requested_by;
