-- The throttle keys more than an e-mail: the account from one client address, the account, the
-- client address for logins and for sign-ups (store/throttle.rs). Old rows keyed by e-mail
-- alone would never be read again.
DELETE FROM login_throttle;
ALTER TABLE login_throttle RENAME COLUMN email_key TO throttle_key;
