//! Which server session each pooled PostgreSQL or MariaDB connection is, so that a statement
//! whose caller gave up (its future was dropped) can be cancelled on the server, as SQLite's
//! are interrupted.
//!
//! sqlx 0.9 keeps PostgreSQL's backend key and MariaDB's connection id to itself, so almacen
//! asks the server once, when a connection is opened, and remembers the answer under the
//! connection's identity ([`conn_key`]). Nothing is asked or looked up per statement: the
//! registry is read only when a statement is abandoned.

use std::collections::HashMap;
use std::sync::Mutex;

/// A connection's identity while it lives: the address of the driver's own state.
///
/// sqlx's `PgConnection` and `MySqlConnection` are each a single `Box` of their state (sqlx
/// 0.9, pinned in Cargo.lock), so that address stays put however the pool moves the
/// connection around, and no two live connections share it. The assertion stops the build
/// if a driver's connection ever becomes anything but one pointer.
pub(crate) fn conn_key<C>(conn: &C) -> usize {
    const { assert!(size_of::<C>() == size_of::<usize>(), "a server connection must be one Box of its state") };
    // SAFETY: `conn` points at `size_of::<usize>()` initialised bytes (the Box's pointer,
    // checked above); reading them as an integer neither dereferences nor keeps the pointer.
    unsafe { std::ptr::read(std::ptr::from_ref(conn).cast::<usize>()) }
}

/// The server sessions of a pool's connections, by [`conn_key`].
///
/// A closed connection's entry stays until its address is reused (the new connection's
/// entry replaces it) or the registry is full, when the oldest entries go: at most
/// `capacity` are kept, several times the pool's size.
#[derive(Debug)]
pub(crate) struct Sessions<Id> {
    entries: Mutex<HashMap<usize, (Id, u64)>>,
    next: std::sync::atomic::AtomicU64,
    capacity: usize,
}

impl<Id: Clone> Sessions<Id> {
    /// A registry for a pool of at most `max_connections`.
    pub(crate) fn new(max_connections: u32) -> Self {
        Sessions {
            entries: Mutex::new(HashMap::new()),
            next: Default::default(),
            capacity: (max_connections as usize).saturating_mul(4).saturating_add(16),
        }
    }

    /// Remember that the connection `key` is the server session `id` (called once, when it
    /// is opened).
    pub(crate) fn remember(&self, key: usize, id: Id) {
        let order = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.insert(key, (id, order));
        if entries.len() > self.capacity
            && let Some(oldest) = entries.iter().min_by_key(|(_, (_, order))| *order).map(|(k, _)| *k)
        {
            entries.remove(&oldest);
        }
    }

    /// The server session of the connection `key`, if it is known.
    pub(crate) fn get(&self, key: usize) -> Option<Id> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).get(&key).map(|(id, _)| id.clone())
    }
}

/// Cancels what a server session is running, from a connection of its own.
pub(crate) trait CancelServerWork: Send + Sync + std::fmt::Debug {
    /// Ask the server to stop the statement the connection `key` is running, if its session
    /// is known, in a task of its own (bounded by the connect timeout): called from `Drop`,
    /// where nothing can wait. Without a tokio runtime nothing is sent.
    fn cancel(&self, key: usize);
}

/// Run `work` on the current tokio runtime, if any, giving up after `limit`.
pub(crate) fn spawn_bounded(limit: std::time::Duration, work: impl std::future::Future<Output = ()> + Send + 'static) {
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        runtime.spawn(async move {
            let _ = tokio::time::timeout(limit, work).await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registry_keeps_the_newest_entries_up_to_its_capacity() {
        let sessions = Sessions::new(1);
        for key in 0..100 {
            sessions.remember(key, key * 10);
        }
        assert_eq!(sessions.get(99), Some(990));
        assert_eq!(sessions.get(80), Some(800), "the newest 20 stay");
        assert_eq!(sessions.get(79), None, "older ones went");
        sessions.remember(99, 7);
        assert_eq!(sessions.get(99), Some(7), "a reused address gets the new session");
    }

    #[test]
    fn a_boxed_value_keeps_its_key_when_moved() {
        struct Conn(#[expect(dead_code, reason = "only its address is read")] Box<[u8; 64]>);
        let a = Conn(Box::new([0; 64]));
        let key = conn_key(&a);
        let moved = Box::new(a);
        assert_eq!(conn_key(&*moved), key);
        let b = Conn(Box::new([0; 64]));
        assert_ne!(conn_key(&b), key);
    }
}
