//! What MariaDB/MySQL needs besides sqlx: arguments bound from almacen's values, opening
//! its pool, running statements and cancelling abandoned ones.

mod args;
mod cancel;
mod connect;
mod run;

use args::{arguments, learn_null_type};
pub(crate) use connect::open;
pub(crate) use run::{run, stream};

/// A statement timeout in MariaDB's `max_statement_time` seconds, rounded up to whole
/// milliseconds and never below 1 ms: `0.000` would mean no limit at all.
fn statement_seconds(t: std::time::Duration) -> String {
    let ms = t.as_nanos().div_ceil(1_000_000).max(1);
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    #[test]
    fn statement_timeouts_never_round_to_no_limit() {
        assert_eq!(super::statement_seconds(Duration::from_micros(1)), "0.001");
        assert_eq!(super::statement_seconds(Duration::ZERO), "0.001");
        assert_eq!(super::statement_seconds(Duration::from_micros(1500)), "0.002");
        assert_eq!(super::statement_seconds(Duration::from_millis(2500)), "2.500");
    }
}
