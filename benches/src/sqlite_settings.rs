//! The journal mode and `synchronous` level every side of a SQLite file comparison runs on
//! (`--sqlite-journal-mode`, `--sqlite-synchronous`; almacen's defaults, WAL and NORMAL):
//! almacen through its URL, rusqlite and Diesel through PRAGMAs on each connection, sqlx and
//! SeaORM through sqlx's connect options. After the sides open, each is asked what it runs
//! on ([`SqliteFile::check`]), so no side is measured on other durability than the rest.

use almacen::{JournalMode, Synchronous};

/// The settings of every SQLite file database a comparison opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SqliteFile {
    pub(crate) journal: JournalMode,
    pub(crate) sync: Synchronous,
}

impl SqliteFile {
    /// almacen's URL parameters for them (its URL is `sqlite://path?` + these).
    pub(crate) fn url_params(self) -> String {
        format!("journal_mode={}&synchronous={}", self.journal, self.sync)
    }

    /// almacen's URL for a file at `path`.
    pub(crate) fn url(self, path: &std::path::Path) -> String {
        format!("sqlite://{}?{}", path.display(), self.url_params())
    }

    /// The PRAGMAs almacen sets on each connection, for the sides that set them by hand
    /// (rusqlite, Diesel).
    pub(crate) fn pragmas(self) -> String {
        format!(
            "PRAGMA journal_mode = {}; PRAGMA synchronous = {}; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;",
            self.journal, self.sync
        )
    }

    /// sqlx's (and so SeaORM's) connect options with them.
    pub(crate) fn sqlx(self, o: sqlx::sqlite::SqliteConnectOptions) -> sqlx::sqlite::SqliteConnectOptions {
        use sqlx::sqlite::{SqliteJournalMode as J, SqliteSynchronous as S};
        let journal = match self.journal {
            JournalMode::Wal => J::Wal,
            JournalMode::Delete => J::Delete,
            JournalMode::Truncate => J::Truncate,
            JournalMode::Persist => J::Persist,
        };
        let sync = match self.sync {
            Synchronous::Off => S::Off,
            Synchronous::Normal => S::Normal,
            Synchronous::Full => S::Full,
            Synchronous::Extra => S::Extra,
        };
        o.journal_mode(journal).synchronous(sync)
    }

    /// For section headers: `WAL, synchronous=NORMAL`.
    pub(crate) fn label(self) -> String {
        format!("{}, synchronous={}", self.journal.as_str().to_uppercase(), self.sync.as_str().to_uppercase())
    }

    /// Panic unless a side answered `journal` (PRAGMA journal_mode) and `sync` (PRAGMA
    /// synchronous, 0–3) as these settings.
    pub(crate) fn check(self, side: &str, journal: &str, sync: i64) {
        assert!(
            journal.eq_ignore_ascii_case(self.journal.as_str()) && sync == self.sync.pragma_value(),
            "{side} runs on journal_mode={journal}, synchronous={sync}, not {} ({})",
            self.label(),
            self.sync.pragma_value()
        );
    }
}

/// The two PRAGMAs as a Diesel row.
#[derive(diesel::QueryableByName)]
pub(crate) struct DieselPragmas {
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub(crate) journal_mode: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub(crate) synchronous: i64,
}

/// One statement that reads both PRAGMAs (for the sides that take one statement).
pub(crate) const PRAGMAS_SQL: &str =
    "SELECT j.journal_mode AS journal_mode, s.synchronous AS synchronous FROM pragma_journal_mode() AS j, pragma_synchronous() AS s";
