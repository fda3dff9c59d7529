-- One login and database per service that uses PostgreSQL (run once by the postgres image).
CREATE ROLE auth LOGIN PASSWORD 'auth';
CREATE DATABASE auth OWNER auth;
CREATE ROLE product LOGIN PASSWORD 'product';
CREATE DATABASE product OWNER product;
