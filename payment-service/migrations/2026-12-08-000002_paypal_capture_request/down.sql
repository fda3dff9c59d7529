ALTER TABLE payments DROP COLUMN capture_request_id;
