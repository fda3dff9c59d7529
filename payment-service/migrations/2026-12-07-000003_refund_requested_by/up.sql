-- Who asked for a refund that the payment's owner did not: `operator:<admin user id>` for a
-- support refund (POST /v1/admin/payments/{id}/refunds). NULL: the owner (through cart) or
-- the platform's own compensation, whose reason says which.
ALTER TABLE refunds ADD COLUMN requested_by VARCHAR(80) NULL;
