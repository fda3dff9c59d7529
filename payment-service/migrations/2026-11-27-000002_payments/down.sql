DROP TABLE processed_webhooks;
DROP TABLE idempotency_keys;
DROP TABLE refunds;
DROP TABLE payments;
