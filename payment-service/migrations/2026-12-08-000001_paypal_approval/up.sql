-- PayPal's page where the buyer approves a PayPal payment, kept while the payment waits for
-- that approval (NULL for cards, and once the payment is settled).
ALTER TABLE payments ADD COLUMN approval_url VARCHAR(2048) NULL;
