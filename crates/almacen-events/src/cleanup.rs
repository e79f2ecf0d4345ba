//! Deleting old rows a batch at a time, and the time arithmetic it needs.

use almacen::DeleteWhere;
use almacen::prelude::*;
use std::time::Duration;

/// `d` as a chrono duration (a span too long for chrono becomes the longest it has).
pub(crate) fn chrono_duration(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

/// The time `retention` ago.
pub(crate) fn ago(retention: Duration) -> DateTime<Utc> {
    Utc::now() - chrono_duration(retention)
}

/// Delete the rows of `M` matching `condition`, `batch` at a time in key order (each batch
/// its own short statement, so a large backlog never holds locks for long); returns how
/// many were deleted.
pub(crate) async fn delete_in_batches<M: Model<Key = i64>>(
    db: &Database,
    condition: Condition,
    key: Column<M, i64>,
    batch: u64,
) -> almacen::Result<u64> {
    if batch == 0 {
        return Err(almacen::Error::InvalidValue { column: "batch".into(), message: "must be at least 1".into() });
    }
    let mut deleted = 0;
    loop {
        let rows = Select::<M>::new().filter(condition.clone()).order_by(key.asc()).limit(batch).fetch_all(db).await?;
        if rows.is_empty() {
            return Ok(deleted);
        }
        let keys: Vec<i64> = rows.iter().map(|r| r.key()).collect();
        deleted += DeleteWhere::<M>::new(key.is_in(keys)).hard().execute(db).await?;
    }
}
