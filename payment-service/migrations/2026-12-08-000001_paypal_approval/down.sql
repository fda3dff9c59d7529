ALTER TABLE payments DROP COLUMN approval_url;
