//! The shop's contract (issue 16), end to end over HTTP on SQLite, PostgreSQL and MariaDB:
//! the whole application as `main` builds it (migrations applied, the admin seeded, the
//! router in the service layers with metrics) on a real listener. Every error response is
//! checked to be the envelope, and no response may be a 5xx.

#[path = "../../../crates/almacen/tests/common/mod.rs"]
mod common;
#[path = "contract/products.rs"]
mod products;
#[path = "contract/service.rs"]
mod service;
#[path = "contract/support.rs"]
mod support;
#[path = "contract/users.rs"]
mod users;

use products::*;
use service::*;
use users::*;

per_backend!(
    register_rules_and_read_shape,
    admin_list_and_refused_tokens,
    writes_and_field_rules,
    list_filters_sorting_pages,
    ids_out_of_range,
    orders_take_stock_or_change_nothing,
    health_metrics_and_docs
);
