-- The bench database for MariaDB (bench/run.sh db): the same rows as bench/db/postgresql.sql
-- (deterministic: md5 of the row numbers, no RAND()), @rows orders and @rows/4 customers, built
-- from the SEQUENCE engine's seq_1_to_N tables; set @rows before sourcing this file.
DROP TABLE IF EXISTS orders, customers;
CREATE TABLE customers (id INT PRIMARY KEY, name VARCHAR(64) NOT NULL, email VARCHAR(64), city VARCHAR(16))
  ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE TABLE orders (id BIGINT PRIMARY KEY, customer INT NOT NULL, total DECIMAL(12,2), placed DATETIME,
  note VARCHAR(64), data JSON, KEY orders_customer (customer),
  CONSTRAINT orders_customer_fk FOREIGN KEY (customer) REFERENCES customers (id)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
SET foreign_key_checks = 0, unique_checks = 0;
SET @q = CONCAT('INSERT INTO customers SELECT seq, CONCAT(''Customer '', MD5(seq)), CONCAT(LEFT(MD5(CONCAT(''m'', seq)), 12), ''@example.org''),
  ELT(1 + seq % 5, ''Zürich'', ''Kraków'', ''Åre'', ''Lyon'', ''Porto'') FROM seq_1_to_', @rows DIV 4);
PREPARE s FROM @q; EXECUTE s; DEALLOCATE PREPARE s;
SET @q = CONCAT('INSERT INTO orders SELECT seq, 1 + seq % (', @rows DIV 4, '), (seq % 100000) / 100.0,
  TIMESTAMP ''2024-01-01 00:00:00'' + INTERVAL seq * 13 SECOND, CONCAT(MD5(seq), MD5(seq * 7)),
  JSON_OBJECT(''n'', seq, ''sku'', LEFT(MD5(CONCAT(''s'', seq)), 10), ''qty'', seq % 9) FROM seq_1_to_', @rows);
PREPARE s FROM @q; EXECUTE s; DEALLOCATE PREPARE s;
SET foreign_key_checks = 1, unique_checks = 1;
ANALYZE TABLE customers, orders;
