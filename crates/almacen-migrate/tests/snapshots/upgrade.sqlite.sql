-- almacen-migrate: upgrade on SQLite from <base>, 2 revision(s)

CREATE TABLE almacen_version (version_num VARCHAR(32) NOT NULL, CONSTRAINT almacen_version_pkc PRIMARY KEY (version_num));

-- 0a0a0a0a0a01 shop
PRAGMA foreign_keys = OFF;
BEGIN;
-- step 1
CREATE TABLE "customers" (
  "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL CHECK (typeof("id") IN ('integer', 'null')),
  "email" TEXT NOT NULL CHECK (length("email") <= 120),
  "vip" INTEGER NOT NULL DEFAULT (FALSE) CHECK ("vip" IN (0, 1)),
  "joined" TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z'),
  CONSTRAINT "uq_customers_email" UNIQUE ("email")
);
-- step 2
CREATE TABLE "orders" (
  "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL CHECK (typeof("id") IN ('integer', 'null')),
  "customer_id" INTEGER NOT NULL CHECK (typeof("customer_id") IN ('integer', 'null')),
  "total" DECIMAL_REAL(12, 2) NOT NULL CHECK (typeof("total") IN ('real', 'null') AND abs("total") < 1e10),
  "status" TEXT NOT NULL DEFAULT ('new') CHECK ("status" IN ('new', 'paid')),
  "note" TEXT,
  CONSTRAINT "fk_orders_customer_id" FOREIGN KEY ("customer_id") REFERENCES "customers" ("id") ON DELETE CASCADE
);
CREATE INDEX "ix_orders_status" ON "orders" ("status");
INSERT INTO almacen_version (version_num) VALUES ('0a0a0a0a0a01');
PRAGMA foreign_key_check; -- the runner rolls back when this returns rows
COMMIT;
PRAGMA foreign_keys = ON;

-- 0a0a0a0a0a02 loyalty points, longer emails, paid orders shipped
PRAGMA foreign_keys = OFF;
BEGIN;
-- step 1
CREATE TABLE "_almacen_new_customers" (
  "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL CHECK (typeof("id") IN ('integer', 'null')),
  "email" TEXT NOT NULL CHECK (length("email") <= 120),
  "vip" INTEGER NOT NULL DEFAULT (FALSE) CHECK ("vip" IN (0, 1)),
  "joined" TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z'),
  "points" INTEGER NOT NULL DEFAULT (0) CHECK (typeof("points") IN ('integer', 'null') AND "points" BETWEEN -2147483648 AND 2147483647),
  CONSTRAINT "uq_customers_email" UNIQUE ("email")
);
INSERT INTO "_almacen_new_customers" ("id", "email", "vip", "joined") SELECT "id", "email", "vip", "joined" FROM "customers";
INSERT INTO sqlite_sequence (name, seq) SELECT '_almacen_new_customers', seq FROM sqlite_sequence WHERE name = 'customers' AND NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = '_almacen_new_customers');
UPDATE sqlite_sequence SET seq = (SELECT seq FROM sqlite_sequence WHERE name = 'customers') WHERE name = '_almacen_new_customers' AND seq < (SELECT seq FROM sqlite_sequence WHERE name = 'customers');
DROP TABLE "customers";
ALTER TABLE "_almacen_new_customers" RENAME TO "customers";
-- step 2
CREATE TABLE "_almacen_new_customers" (
  "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL CHECK (typeof("id") IN ('integer', 'null')),
  "email" TEXT NOT NULL CHECK (length("email") <= 254),
  "vip" INTEGER NOT NULL DEFAULT (FALSE) CHECK ("vip" IN (0, 1)),
  "joined" TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z'),
  "points" INTEGER NOT NULL DEFAULT (0) CHECK (typeof("points") IN ('integer', 'null') AND "points" BETWEEN -2147483648 AND 2147483647),
  CONSTRAINT "uq_customers_email" UNIQUE ("email")
);
INSERT INTO "_almacen_new_customers" ("id", "email", "vip", "joined", "points") SELECT "id", "email", "vip", "joined", "points" FROM "customers";
INSERT INTO sqlite_sequence (name, seq) SELECT '_almacen_new_customers', seq FROM sqlite_sequence WHERE name = 'customers' AND NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = '_almacen_new_customers');
UPDATE sqlite_sequence SET seq = (SELECT seq FROM sqlite_sequence WHERE name = 'customers') WHERE name = '_almacen_new_customers' AND seq < (SELECT seq FROM sqlite_sequence WHERE name = 'customers');
DROP TABLE "customers";
ALTER TABLE "_almacen_new_customers" RENAME TO "customers";
-- step 3
CREATE TABLE "_almacen_new_orders" (
  "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL CHECK (typeof("id") IN ('integer', 'null')),
  "customer_id" INTEGER NOT NULL CHECK (typeof("customer_id") IN ('integer', 'null')),
  "total" DECIMAL_REAL(12, 2) NOT NULL CHECK (typeof("total") IN ('real', 'null') AND abs("total") < 1e10),
  "status" TEXT NOT NULL DEFAULT ('new') CHECK ("status" IN ('new', 'paid', 'shipped')),
  "note" TEXT,
  CONSTRAINT "fk_orders_customer_id" FOREIGN KEY ("customer_id") REFERENCES "customers" ("id") ON DELETE CASCADE
);
INSERT INTO "_almacen_new_orders" ("id", "customer_id", "total", "status", "note") SELECT "id", "customer_id", "total", "status", "note" FROM "orders";
INSERT INTO sqlite_sequence (name, seq) SELECT '_almacen_new_orders', seq FROM sqlite_sequence WHERE name = 'orders' AND NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = '_almacen_new_orders');
UPDATE sqlite_sequence SET seq = (SELECT seq FROM sqlite_sequence WHERE name = 'orders') WHERE name = '_almacen_new_orders' AND seq < (SELECT seq FROM sqlite_sequence WHERE name = 'orders');
DROP TABLE "orders";
ALTER TABLE "_almacen_new_orders" RENAME TO "orders";
CREATE INDEX "ix_orders_status" ON "orders" ("status");
-- step 4
ALTER TABLE "orders" RENAME COLUMN "note" TO "remarks";
-- step 5
UPDATE customers SET points = 10 WHERE vip;
DELETE FROM almacen_version WHERE version_num = '0a0a0a0a0a01';
INSERT INTO almacen_version (version_num) VALUES ('0a0a0a0a0a02');
PRAGMA foreign_key_check; -- the runner rolls back when this returns rows
COMMIT;
PRAGMA foreign_keys = ON;
