//! Exact decoders of MariaDB values (see `crate::data::exact`).

use chrono::NaiveTime;

type Exact<T> = std::result::Result<T, String>;

/// MariaDB `TIME`: a signed duration up to 838 hours; only 00:00:00 to 23:59:59.999999 is
/// a time of day (sqlx would drop the sign of `-01:00:00`).
pub(crate) fn my_time(t: sqlx::mysql::types::MySqlTime) -> Exact<NaiveTime> {
    use sqlx::mysql::types::MySqlTimeSign;
    if t.sign() == MySqlTimeSign::Negative || t.hours() > 23 {
        return Err(format!("{t} is not a time of day"));
    }
    NaiveTime::from_hms_micro_opt(t.hours(), t.minutes().into(), t.seconds().into(), t.microseconds())
        .ok_or_else(|| format!("{t} is not a time of day"))
}
