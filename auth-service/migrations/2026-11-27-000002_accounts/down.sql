DROP TABLE orders;
DROP TABLE login_throttle;
DROP TABLE refresh_tokens;
DROP TABLE token_families;
DROP TABLE users;
