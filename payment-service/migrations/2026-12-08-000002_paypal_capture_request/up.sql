-- The PayPal-Request-Id of the last capture sent for a PayPal payment, written before it is
-- sent: an order approved too late whose capture went out is captured-or-not only as PayPal
-- answers that request again, never assumed uncaptured.
ALTER TABLE payments ADD COLUMN capture_request_id VARCHAR(100) NULL;
