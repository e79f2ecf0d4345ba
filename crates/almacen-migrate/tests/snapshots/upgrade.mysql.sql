-- almacen-migrate: upgrade on MariaDB/MySQL from <base>, 2 revision(s)
-- MariaDB/MySQL commit each DDL statement on its own: a failed step leaves the ones before it done.

CREATE TABLE almacen_version (version_num VARCHAR(32) NOT NULL, CONSTRAINT almacen_version_pkc PRIMARY KEY (version_num));

-- 0a0a0a0a0a01 shop
-- step 1
CREATE TABLE `customers` (
  `id` BIGINT AUTO_INCREMENT NOT NULL,
  `email` VARCHAR(120) NOT NULL,
  `vip` BOOLEAN NOT NULL DEFAULT (FALSE) CHECK (`vip` IN (0, 1)),
  `joined` DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  CONSTRAINT `pk_customers` PRIMARY KEY (`id`),
  CONSTRAINT `uq_customers_email` UNIQUE (`email`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;
-- step 2
CREATE TABLE `orders` (
  `id` BIGINT AUTO_INCREMENT NOT NULL,
  `customer_id` BIGINT NOT NULL,
  `total` DECIMAL(12, 2) NOT NULL,
  `status` VARCHAR(4) NOT NULL DEFAULT ('new') CHECK (`status` IN ('new', 'paid')),
  `note` LONGTEXT,
  CONSTRAINT `pk_orders` PRIMARY KEY (`id`),
  CONSTRAINT `fk_orders_customer_id` FOREIGN KEY (`customer_id`) REFERENCES `customers` (`id`) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;
CREATE INDEX `ix_orders_status` ON `orders` (`status`);
INSERT INTO almacen_version (version_num) VALUES ('0a0a0a0a0a01');

-- 0a0a0a0a0a02 loyalty points, longer emails, paid orders shipped
-- step 1
ALTER TABLE `customers` ADD COLUMN `points` INT NOT NULL DEFAULT (0);
-- step 2
ALTER TABLE `customers` MODIFY COLUMN `email` VARCHAR(254) NOT NULL;
-- step 3
ALTER TABLE `orders` MODIFY COLUMN `status` VARCHAR(7) NOT NULL DEFAULT ('new') CHECK (`status` IN ('new', 'paid', 'shipped'));
-- step 4
ALTER TABLE `orders` RENAME COLUMN `note` TO `remarks`;
-- step 5
UPDATE customers SET points = 10 WHERE vip;
DELETE FROM almacen_version WHERE version_num = '0a0a0a0a0a01';
INSERT INTO almacen_version (version_num) VALUES ('0a0a0a0a0a02');
