//! Pagination of typed queries: numbered pages with totals ([`Select::paginate`]), and
//! keyset pages behind a signed cursor ([`Select::keyset_page`]). The cursor is opaque to
//! clients by convention only: it is signed, not encrypted, so its sort-key values can be
//! read (base64url JSON); it cannot be altered or forged.

use super::{CmpOp, ColumnRef, Condition, OrderBy, Select};
use crate::data::error::{Error, Result};
use crate::data::model::{ColumnType, Model};
use crate::data::value::Value;
use crate::engine::executor::Executor;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use hmac::{KeyInit, Mac};
use rust_decimal::Decimal;
use serde::Serialize;
use std::str::FromStr;

/// The largest page [`Select::paginate`] and [`Select::keyset_page`] return; a larger
/// `page_size` is capped to it.
pub const MAX_PAGE_SIZE: u64 = 1000;

/// One page of a numbered (offset) pagination, as an API returns it.
///
/// ```
/// use almacen::query::Page;
/// let page = Page::new(vec!["a", "b"], 5, 1, 2);
/// assert_eq!((page.total_pages, page.has_next, page.has_prev), (3, true, false));
/// assert_eq!(serde_json::to_value(&page).unwrap()["total"], 5);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Page<T> {
    /// The rows of this page (empty past the last page).
    pub items: Vec<T>,
    /// Rows matching the query on all pages.
    pub total: u64,
    /// This page's number, from 1.
    pub page: u64,
    /// Rows per page (after capping).
    pub page_size: u64,
    /// Pages in all (0 when nothing matches).
    pub total_pages: u64,
    /// Whether a later page has rows.
    pub has_next: bool,
    /// Whether this is not the first page.
    pub has_prev: bool,
}

impl<T> Page<T> {
    /// A page of `items` out of `total` rows, with the derived fields filled in.
    pub fn new(items: Vec<T>, total: u64, page: u64, page_size: u64) -> Self {
        let total_pages = total.div_ceil(page_size.max(1));
        Page { items, total, page, page_size, total_pages, has_next: page < total_pages, has_prev: page > 1 }
    }

    /// The same page with each item converted (e.g. into an output view).
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        let Page { items, total, page, page_size, total_pages, has_next, has_prev } = self;
        Page { items: items.into_iter().map(f).collect(), total, page, page_size, total_pages, has_next, has_prev }
    }
}

/// One page of a keyset pagination: the rows, and the cursor that continues after them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeysetPage<T> {
    /// The rows of this page.
    pub items: Vec<T>,
    /// Pass to the next call to get the rows after these; `None` on the last page.
    pub next_cursor: Option<String>,
    /// Whether more rows follow.
    pub has_next: bool,
}

/// The secret that signs keyset cursors, so a client can neither forge nor alter one, nor use
/// a cursor made for another table or ordering (the filters are not part of it). Keep it in
/// configuration: cursors signed with one key are refused under another.
///
/// ```
/// let key = almacen::query::CursorKey::new(b"at least sixteen bytes of secret").unwrap();
/// assert!(almacen::query::CursorKey::new(b"short").is_err());
/// # let _ = key;
/// ```
#[derive(Clone)]
pub struct CursorKey(Vec<u8>);

impl std::fmt::Debug for CursorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CursorKey(<secret>)")
    }
}

impl CursorKey {
    /// A key from secret bytes (at least 16).
    pub fn new(secret: impl AsRef<[u8]>) -> Result<Self> {
        let secret = secret.as_ref();
        if secret.len() < 16 {
            return Err(Error::Config(format!("a cursor key needs at least 16 bytes of secret, got {}", secret.len())));
        }
        Ok(CursorKey(secret.to_vec()))
    }

    fn mac(&self, payload: &[u8]) -> hmac::Hmac<sha2::Sha256> {
        let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&self.0).expect("HMAC takes keys of any length");
        mac.update(payload);
        mac
    }

    /// `payload.signature`, both base64url.
    fn sign(&self, payload: &[u8]) -> String {
        let tag = self.mac(payload).finalize().into_bytes();
        format!("{}.{}", URL_SAFE_NO_PAD.encode(payload), URL_SAFE_NO_PAD.encode(tag))
    }

    /// The payload of a cursor this key signed.
    fn open(&self, cursor: &str) -> Result<Vec<u8>> {
        let bad = || Error::invalid("cursor", "not a cursor of this query (malformed, altered or signed with another key)");
        let (payload, tag) = cursor.split_once('.').ok_or_else(bad)?;
        let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| bad())?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| bad())?;
        self.mac(&payload).verify_slice(&tag).map_err(|_| bad())?;
        Ok(payload)
    }
}

/// What a cursor carries: which query it belongs to, and the sort key of the last row.
#[derive(Serialize, serde::Deserialize)]
struct CursorPayload {
    /// Table and order keys; a cursor of another ordering is refused.
    q: String,
    /// The last row's value of each order key, as (kind tag, text).
    k: Vec<(String, String)>,
}

/// The page size after capping, or an error for 0.
fn checked_page_size(page_size: u64) -> Result<u64> {
    if page_size == 0 {
        return Err(Error::invalid("page_size", "must be at least 1"));
    }
    Ok(page_size.min(MAX_PAGE_SIZE))
}

impl<M: Model> Select<M> {
    /// Page `page` (from 1) of `page_size` rows (capped to [`MAX_PAGE_SIZE`]), with the
    /// total count. The query's order is kept and the primary key appended as a final key,
    /// so pages neither overlap nor skip rows. A page past the end has no items; page 0 or a
    /// page size of 0 is an error. Any `limit`/`offset` set on the query is replaced. The
    /// count and the page are two statements: inside a transaction they see one snapshot.
    ///
    /// ```no_run
    /// # use almacen::prelude::*;
    /// # #[derive(Model, Debug)] #[model(table = "items")]
    /// # struct Item { #[model(primary_key, auto)] id: i64, #[model(max_len = 50)] name: String, stock: i32 }
    /// # async fn f(db: &Database) -> almacen::Result<()> {
    /// let page = Item::select().filter(Item::STOCK.gt(0)).order_by(Item::NAME.asc()).paginate(db, 2, 20).await?;
    /// println!("{} of {} items, page {} of {}", page.items.len(), page.total, page.page, page.total_pages);
    /// # Ok(()) }
    /// ```
    pub async fn paginate(&self, db: &impl Executor, page: u64, page_size: u64) -> Result<Page<M>> {
        if page == 0 {
            return Err(Error::invalid("page", "pages are numbered from 1"));
        }
        let page_size = checked_page_size(page_size)?;
        let total = self.count(db).await?;
        let items = match (page - 1).checked_mul(page_size) {
            Some(offset) if offset < total => self.clone().with_key_order().limit(page_size).offset(offset).fetch_all(db).await?,
            _ => Vec::new(),
        };
        Ok(Page::new(items, total, page, page_size))
    }

    /// Up to `limit` rows (capped to [`MAX_PAGE_SIZE`]) after the row `after` points to, in
    /// the query's order with the primary key appended as a final key; `after: None` starts
    /// at the first row. Unlike offsets, the cost does not grow with depth, and rows
    /// inserted meanwhile do not shift the pages. Order keys must be non-nullable columns of
    /// `M`'s own table (not JSON). The returned cursor is signed with `key`: a cursor that
    /// was altered, forged or made for another ordering is an error.
    ///
    /// ```no_run
    /// # use almacen::prelude::*;
    /// # #[derive(Model, Debug)] #[model(table = "items")]
    /// # struct Item { #[model(primary_key, auto)] id: i64, #[model(max_len = 50)] name: String, stock: i32 }
    /// # async fn f(db: &Database) -> almacen::Result<()> {
    /// let key = almacen::query::CursorKey::new(b"from the service's configuration")?;
    /// let query = Item::select().order_by(Item::STOCK.desc());
    /// let first = query.keyset_page(db, &key, None, 50).await?;
    /// if let Some(cursor) = &first.next_cursor {
    ///     let second = query.keyset_page(db, &key, Some(cursor), 50).await?;
    /// #   let _ = second;
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn keyset_page(&self, db: &impl Executor, key: &CursorKey, after: Option<&str>, limit: u64) -> Result<KeysetPage<M>> {
        let limit = checked_page_size(limit)?;
        let query = self.clone().with_key_order();
        let order = query.order_keys().to_vec();
        let shape = keyset_shape::<M>(&order)?;
        let mut query = query.limit(limit + 1).offset(0);
        if let Some(cursor) = after {
            let payload: CursorPayload = serde_json::from_slice(&key.open(cursor)?)
                .map_err(|_| Error::invalid("cursor", "not a cursor of this query (unreadable payload)"))?;
            if payload.q != shape || payload.k.len() != order.len() {
                return Err(Error::invalid("cursor", "the cursor belongs to a query with another order"));
            }
            let values =
                order.iter().zip(&payload.k).map(|(o, (tag, text))| cursor_value(o.column, tag, text)).collect::<Result<Vec<_>>>()?;
            query = query.filter(after_condition(&order, values));
        }
        let mut items = query.fetch_all(db).await?;
        let has_next = items.len() as u64 > limit;
        items.truncate(limit as usize);
        let next_cursor = match items.last() {
            Some(last) if has_next => {
                let values = last.values();
                let k = order
                    .iter()
                    .map(|o| {
                        let at = M::TABLE.columns.iter().position(|c| c.name == o.column.meta.name).expect("checked in keyset_shape");
                        cursor_text(o.column, &values[at])
                    })
                    .collect::<Result<Vec<_>>>()?;
                let payload = serde_json::to_vec(&CursorPayload { q: shape, k }).map_err(|e| Error::invalid("cursor", e.to_string()))?;
                Some(key.sign(&payload))
            }
            _ => None,
        };
        Ok(KeysetPage { items, next_cursor, has_next })
    }

    /// This query with every primary-key column appended to its order (ascending) unless
    /// already there: a total order, so pages are stable.
    fn with_key_order(mut self) -> Self {
        for meta in M::TABLE.primary_key() {
            if !self.order_keys().iter().any(|o| o.column.table == M::TABLE.name && o.column.meta.name == meta.name) {
                self = self.order_by(OrderBy { column: ColumnRef { table: M::TABLE.name, meta }, descending: false });
            }
        }
        self
    }
}

/// The identity of a keyset ordering (signed into its cursors), after checking each key
/// can be one.
fn keyset_shape<M: Model>(order: &[OrderBy]) -> Result<String> {
    let mut shape = String::from(M::TABLE.name);
    for o in order {
        let name = o.column.meta.name;
        let own = o.column.table == M::TABLE.name && M::TABLE.columns.iter().any(|c| c.name == name);
        if !own {
            return Err(Error::Unsupported(format!(
                "keyset pagination orders by {}'s own columns; {}.{name} is not one",
                M::TABLE.name,
                o.column.table
            )));
        }
        if o.column.meta.nullable {
            return Err(Error::Unsupported(format!("keyset pagination needs non-nullable order keys; {name} is nullable")));
        }
        if matches!(o.column.meta.ty, ColumnType::Json) {
            return Err(Error::Unsupported(format!("keyset pagination cannot order by the JSON column {name}")));
        }
        shape.push_str(&format!(",{name}:{}", if o.descending { "d" } else { "a" }));
    }
    Ok(shape)
}

/// Rows after `values` in `order`: `(a > x) OR (a = x AND b > y) OR …`, with `<` for
/// descending keys.
fn after_condition(order: &[OrderBy], values: Vec<Value>) -> Condition {
    let mut any = Vec::with_capacity(order.len());
    for i in 0..order.len() {
        let mut all: Vec<Condition> = (0..i).map(|j| Condition::Cmp(order[j].column, CmpOp::Eq, values[j].clone())).collect();
        let op = if order[i].descending { CmpOp::Lt } else { CmpOp::Gt };
        all.push(Condition::Cmp(order[i].column, op, values[i].clone()));
        any.push(if all.len() == 1 { all.pop().expect("one") } else { Condition::And(all) });
    }
    Condition::Or(any)
}

/// A sort key's value as (kind tag, text) for a cursor.
fn cursor_text(column: ColumnRef, v: &Value) -> Result<(String, String)> {
    let (tag, text) = match v {
        Value::Bool(b) => ("b", (*b as u8).to_string()),
        Value::Int(i) => ("i", i.to_string()),
        Value::Float(f) => ("f", format!("{f:?}")),
        Value::Decimal(d) => ("d", d.to_string()),
        Value::Text(t) => ("t", t.clone()),
        Value::Uuid(u) => ("u", u.to_string()),
        Value::Timestamp(t) => ("ts", t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)),
        Value::Date(d) => ("da", d.to_string()),
        Value::Time(t) => ("ti", t.format("%H:%M:%S%.6f").to_string()),
        Value::Bytes(b) => ("x", URL_SAFE_NO_PAD.encode(b)),
        other => return Err(Error::Unsupported(format!("keyset pagination cannot order by {} ({:?})", column.meta.name, other.kind()))),
    };
    Ok((tag.to_string(), text))
}

/// The value a cursor carries for `column`, checked against the column's kind.
fn cursor_value(column: ColumnRef, tag: &str, text: &str) -> Result<Value> {
    let bad = || Error::invalid("cursor", format!("the cursor's value for {} is unreadable", column.meta.name));
    let v = match tag {
        "b" => Value::Bool(text == "1"),
        "i" => Value::Int(text.parse().map_err(|_| bad())?),
        "f" => Value::Float(text.parse().map_err(|_| bad())?),
        "d" => Value::Decimal(Decimal::from_str(text).map_err(|_| bad())?),
        "t" => Value::Text(text.to_string()),
        "u" => Value::Uuid(text.parse().map_err(|_| bad())?),
        "ts" => Value::Timestamp(DateTime::parse_from_rfc3339(text).map_err(|_| bad())?.with_timezone(&Utc)),
        "da" => Value::Date(NaiveDate::from_str(text).map_err(|_| bad())?),
        "ti" => Value::Time(NaiveTime::parse_from_str(text, "%H:%M:%S%.f").map_err(|_| bad())?),
        "x" => Value::Bytes(URL_SAFE_NO_PAD.decode(text).map_err(|_| bad())?),
        _ => return Err(bad()),
    };
    if v.kind() != column.meta.ty.kind() {
        return Err(bad());
    }
    Ok(v)
}
