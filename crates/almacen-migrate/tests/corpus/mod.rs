//! The model corpus shared by the introspection and autogenerate tests: every portable
//! type, nullable and not, keys, indexes, unique constraints, foreign keys, every kind of
//! default, enums, and odd identifiers. A schema created from it reads back equal to it.

#![allow(dead_code)]

use almacen::TableMeta;
use almacen::prelude::*;

#[derive(DbEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mood {
    #[default]
    Calm,
    Busy,
    #[db_enum(rename = "on-hold")]
    OnHold,
}

/// One column of every portable type, not null and nullable.
#[derive(Model, Debug, Clone)]
#[model(table = "every_type")]
pub struct EveryType {
    #[model(primary_key, auto)]
    pub id: i64,
    pub small: i16,
    pub small_n: Option<i16>,
    pub int: i32,
    pub int_n: Option<i32>,
    pub big: i64,
    pub big_n: Option<i64>,
    pub float: f32,
    pub float_n: Option<f32>,
    pub double: f64,
    pub double_n: Option<f64>,
    #[model(decimal(12, 2))]
    pub price: Decimal,
    #[model(decimal(12, 2))]
    pub price_n: Option<Decimal>,
    #[model(decimal(24, 6))]
    pub wide: Decimal,
    #[model(decimal(24, 6))]
    pub wide_n: Option<Decimal>,
    pub flag: bool,
    pub flag_n: Option<bool>,
    #[model(max_len = 40, unique)]
    pub code: String,
    #[model(max_len = 40)]
    pub code_n: Option<String>,
    pub body: String,
    pub body_n: Option<String>,
    pub uid: Uuid,
    pub uid_n: Option<Uuid>,
    #[model(created_at)]
    pub created_at: DateTime<Utc>,
    pub at: DateTime<Utc>,
    pub at_n: Option<DateTime<Utc>>,
    pub day: NaiveDate,
    pub day_n: Option<NaiveDate>,
    pub clock: NaiveTime,
    pub clock_n: Option<NaiveTime>,
    pub doc: almacen::serde_json::Value,
    pub doc_n: Option<almacen::serde_json::Value>,
    pub data: Vec<u8>,
    pub data_n: Option<Vec<u8>>,
    pub mood: Mood,
    pub mood_n: Option<Mood>,
    #[model(server_default = "0", index)]
    pub counter: i32,
    #[model(sql_type = "text")]
    pub as_text: String,
}

/// A composite key, a two-column index in another order, a cascading foreign key.
#[derive(Model, Debug, Clone)]
#[model(table = "seats", composite, index("row_no", "hall"), unique("label", "row_no"))]
pub struct Seat {
    #[model(max_len = 10)]
    pub label: String,
    #[model(primary_key, max_len = 20)]
    pub hall: String,
    #[model(primary_key)]
    pub row_no: i32,
    #[model(references = "every_type.id", on_delete = "cascade")]
    pub owner: Option<i64>,
}

/// Server defaults of every kind.
#[derive(Model, Debug, Clone)]
#[model(table = "drafts")]
pub struct Draft {
    #[model(primary_key, auto)]
    pub id: i32,
    #[model(server_default = "0")]
    pub revision: i32,
    #[model(server_default = "-1")]
    pub below: i64,
    #[model(max_len = 20, server_default = "'draft'")]
    pub state: String,
    #[model(server_default = "'on-hold'")]
    pub mood: Mood,
    #[model(server_default = 7)]
    pub views: i16,
    #[model(server_default = false)]
    pub pinned: bool,
    #[model(server_default = true)]
    pub visible: bool,
    #[model(server_default = now)]
    pub created_at: DateTime<Utc>,
    #[model(server_default = now)]
    pub created_on: NaiveDate,
    #[model(server_default = now)]
    pub created_tod: NaiveTime,
    #[model(max_len = 30, server_default = "'it''s'")]
    pub quoted: Option<String>,
    #[model(decimal(12, 2), server_default = "0")]
    pub amount: Decimal,
    #[model(server_default = "1.5")]
    pub ratio: f64,
    #[model(server_default = "'{}'")]
    pub meta: almacen::serde_json::Value,
}

#[derive(Model, Debug, Clone)]
#[model(table = "teams")]
pub struct Team {
    #[model(primary_key, auto)]
    pub id: i64,
    #[model(max_len = 40, unique)]
    pub name: String,
}

/// The table the hand-made changes are made to.
#[derive(Model, Debug, Clone)]
#[model(table = "items")]
pub struct Item {
    #[model(primary_key, auto)]
    pub id: i64,
    #[model(max_len = 40)]
    pub name: String,
    #[model(server_default = "0")]
    pub qty: i32,
    #[model(max_len = 100)]
    pub note: Option<String>,
    pub status: Mood,
    #[model(max_len = 20, unique)]
    pub sku: String,
    #[model(index)]
    pub cat: i16,
    #[model(index, references = "teams.id", on_delete = "set_null")]
    pub team_id: Option<i64>,
    pub owner_id: Option<i64>,
}

/// An enum with a quote in a value (MariaDB writes it back as `'it\'s'` in its CHECK).
#[derive(DbEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Tone {
    #[default]
    Plain,
    #[db_enum(rename = "it's")]
    Quoted,
}

/// Identifiers in mixed case and with spaces, and quotes in defaults and enum values.
#[derive(Model, Debug, Clone)]
#[model(table = "Odd Table", index("Mixed Case", "with space"))]
pub struct Odd {
    #[model(primary_key, auto, column = "Row Id")]
    pub id: i64,
    #[model(column = "Mixed Case", max_len = 30, server_default = "'it''s'", unique)]
    pub mixed: String,
    #[model(column = "with space", max_len = 50, server_default = "'a \"quoted\" word, isn''t it'")]
    pub spaced: Option<String>,
    #[model(column = "Parent", references = "Odd Table.Row Id", on_delete = "set_null")]
    pub parent: Option<i64>,
    #[model(column = "Tone Of Voice", server_default = "'it''s'")]
    pub tone: Tone,
}

pub const CORPUS: &[&TableMeta] = &[EveryType::TABLE, Seat::TABLE, Draft::TABLE, Team::TABLE, Item::TABLE, Odd::TABLE];
