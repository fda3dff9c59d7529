DROP TABLE reservation_lines;
DROP TABLE reservations;
DROP TABLE products;
DROP TABLE categories;
