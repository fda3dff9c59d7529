-- Issue 36: since when a paid order has gone without its sale being confirmed (sweeper.rs): set
-- when a charge succeeds, the sweeper asks product about the order once the grace has passed
-- since then, moves it on while the reservation is still held, and clears it once the order is
-- known sold or its charge refunded. Payments of the last seven days (the events topic's
-- retention, beyond which a release could have been lost) are checked once; older ones were
-- settled long ago or are the auditor's to report.
ALTER TABLE payments ADD COLUMN sale_check_at DATETIME NULL;
CREATE INDEX payments_sale_check ON payments (sale_check_at);
UPDATE payments SET sale_check_at = UTC_TIMESTAMP()
    WHERE status IN ('succeeded', 'partially_refunded') AND created_at > UTC_TIMESTAMP() - INTERVAL 7 DAY;
