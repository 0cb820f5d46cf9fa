-- The bench database for PostgreSQL (bench/run.sh db): deterministic (md5 of the row numbers,
-- no random()), :rows orders and :rows/4 customers; 2.5M rows make about 500 MB on disk,
-- text that compresses about as well as real data (hex digests: about 2:1), plus indexes.
\set ON_ERROR_STOP 1
DROP TABLE IF EXISTS orders, customers;
CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL, email text, city text);
INSERT INTO customers
  SELECT g, 'Customer ' || md5(g::text), substr(md5('m' || g), 1, 12) || '@example.org',
         (ARRAY['Zürich', 'Kraków', 'Åre', 'Lyon', 'Porto'])[1 + g % 5]
  FROM generate_series(1, :rows / 4) g;
CREATE TABLE orders (id bigint PRIMARY KEY, customer int NOT NULL REFERENCES customers,
  total numeric(12,2), placed timestamptz, note text, data jsonb);
INSERT INTO orders
  SELECT g, 1 + g % (:rows / 4), (g % 100000) / 100.0, timestamptz '2024-01-01' + g * interval '13 seconds',
         md5(g::text) || md5((g * 7)::text),
         jsonb_build_object('n', g, 'sku', substr(md5('s' || g), 1, 10), 'qty', g % 9)
  FROM generate_series(1, :rows) g;
CREATE INDEX orders_customer ON orders (customer);
ANALYZE;
