DROP INDEX payments_sale_check ON payments;
ALTER TABLE payments DROP COLUMN sale_check_at;
