//! The revisions of a `migrations/` folder (or embedded in a binary) as one history:
//! validated (duplicate ids, missing parents, cycles), with its heads and bases, branches
//! reported, merge revisions, and the targets of `upgrade` and `downgrade` resolved into the
//! revisions to apply or undo, in order.

use crate::revision::{Revision, RevisionError};
use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::path::Path;
use std::str::FromStr;

/// Why a set of revisions cannot be used, or a target cannot be reached.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    /// A revision file cannot be read.
    #[error(transparent)]
    Revision(#[from] RevisionError),
    /// The folder cannot be listed.
    #[error("{path}: cannot list the migrations folder: {problem}")]
    Folder {
        /// The folder.
        path: String,
        /// What the system said.
        problem: String,
    },
    /// Two files carry the same revision id.
    #[error("revision {id} is in two files: {first} and {second}")]
    DuplicateId {
        /// The id.
        id: String,
        /// One file.
        first: String,
        /// The other.
        second: String,
    },
    /// A revision names a parent no file has.
    #[error("{file}: parent {parent} of revision {id} is not among the revisions")]
    MissingParent {
        /// The revision.
        id: String,
        /// Its file.
        file: String,
        /// The missing parent.
        parent: String,
    },
    /// Revisions that are their own ancestors.
    #[error("the revisions form a cycle: {}", .0.join(" -> "))]
    Cycle(Vec<String>),
    /// The revisions embedded in the binary are not the folder's ([`check_embedded`]).
    #[error("the embedded revisions are not the folder's: {0}")]
    Embedded(String),
    /// More than one head where one is needed.
    #[error(
        "the history has {} heads (it branches): {}; write a merge revision (`migrate merge`) or upgrade to `heads`",
        .0.len(),
        show_list(.0)
    )]
    Branches(Vec<(String, String)>),
    /// A revision id (or prefix) that matches none.
    #[error("no revision {0}")]
    UnknownRevision(String),
    /// A prefix that matches several revisions.
    #[error("revision prefix {given} is ambiguous: it matches {}", show_list(.candidates))]
    AmbiguousRevision {
        /// The prefix given.
        given: String,
        /// The revisions it matches: id and message.
        candidates: Vec<(String, String)>,
    },
    /// The version table names a revision the migrations do not have (written by a newer
    /// build, or from another folder).
    #[error("the database is at revision {0}, which is not among the migrations")]
    UnknownApplied(String),
    /// A target that cannot be reached from where the database is.
    #[error("{0}")]
    Target(String),
}

fn show_list(items: &[(String, String)]) -> String {
    items.iter().map(|(id, msg)| format!("{id} ({msg:?})")).collect::<Vec<_>>().join(", ")
}

/// Where `upgrade` goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpgradeTarget {
    /// The one head (an error when the history branches).
    Head,
    /// Every head.
    Heads,
    /// The next N revisions toward the head.
    Relative(usize),
    /// A revision (id or unique prefix) and everything it follows.
    Revision(String),
}

/// Where `downgrade` goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DowngradeTarget {
    /// Undo the last N revisions (the database at one head).
    Relative(usize),
    /// Undo everything applied after this revision (id or unique prefix), which stays.
    Revision(String),
    /// Undo everything.
    Base,
}

/// What `stamp` writes into the version table, without running anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StampTarget {
    /// The one head.
    Head,
    /// Every head.
    Heads,
    /// No revision (an empty version table).
    Base,
    /// These revisions (ids or unique prefixes).
    Revisions(Vec<String>),
}

fn parse_count(s: &str, sign: char, what: &str) -> Result<usize, GraphError> {
    match s.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(GraphError::Target(format!("\"{sign}{s}\" is not a {what} count: write {sign}1, {sign}2, …"))),
    }
}

impl FromStr for UpgradeTarget {
    type Err = GraphError;
    /// `head`, `heads`, `+N` or a revision.
    ///
    /// ```
    /// use almacen_migrate::graph::UpgradeTarget;
    /// assert_eq!("+2".parse::<UpgradeTarget>().unwrap(), UpgradeTarget::Relative(2));
    /// assert_eq!("3f9a".parse::<UpgradeTarget>().unwrap(), UpgradeTarget::Revision("3f9a".into()));
    /// ```
    fn from_str(s: &str) -> Result<Self, GraphError> {
        match s.trim() {
            "head" => Ok(UpgradeTarget::Head),
            "heads" => Ok(UpgradeTarget::Heads),
            t if t.starts_with('+') => Ok(UpgradeTarget::Relative(parse_count(&t[1..], '+', "relative upgrade")?)),
            "" => Err(GraphError::Target("an upgrade target is head, heads, +N or a revision".into())),
            t => Ok(UpgradeTarget::Revision(t.to_string())),
        }
    }
}

impl FromStr for DowngradeTarget {
    type Err = GraphError;
    /// `-N`, `base` or a revision.
    ///
    /// ```
    /// use almacen_migrate::graph::DowngradeTarget;
    /// assert_eq!("-1".parse::<DowngradeTarget>().unwrap(), DowngradeTarget::Relative(1));
    /// assert_eq!("base".parse::<DowngradeTarget>().unwrap(), DowngradeTarget::Base);
    /// ```
    fn from_str(s: &str) -> Result<Self, GraphError> {
        match s.trim() {
            "base" => Ok(DowngradeTarget::Base),
            t if t.starts_with('-') => Ok(DowngradeTarget::Relative(parse_count(&t[1..], '-', "relative downgrade")?)),
            "" => Err(GraphError::Target("a downgrade target is -N, base or a revision".into())),
            t => Ok(DowngradeTarget::Revision(t.to_string())),
        }
    }
}

impl FromStr for StampTarget {
    type Err = GraphError;
    /// `head`, `heads`, `base`, or revisions separated by commas or spaces.
    fn from_str(s: &str) -> Result<Self, GraphError> {
        match s.trim() {
            "head" => Ok(StampTarget::Head),
            "heads" => Ok(StampTarget::Heads),
            "base" => Ok(StampTarget::Base),
            "" => Err(GraphError::Target("a stamp target is head, heads, base or revisions".into())),
            t => Ok(StampTarget::Revisions(t.split([',', ' ']).filter(|r| !r.is_empty()).map(str::to_string).collect())),
        }
    }
}

/// The files of a migrations folder embedded in the binary, for
/// [`Migrations::from_embedded`]: a folder (relative to the file that invokes the macro, as
/// `include_str!` reads it) and its file names.
///
/// ```ignore
/// const MIGRATIONS: &[(&str, &str)] =
///     almacen_migrate::embed_migrations!("../migrations", ["3f9a0c12d4e5_init.toml", "8b7c6d5e4f3a_orders.toml"]);
/// let migrations = almacen_migrate::graph::Migrations::from_embedded(MIGRATIONS)?;
/// ```
#[macro_export]
macro_rules! embed_migrations {
    ($dir:literal, [$($file:literal),* $(,)?]) => {
        &[$(($file, include_str!(concat!($dir, "/", $file)))),*]
    };
}

/// Check that `embedded` ([`embed_migrations!`](crate::embed_migrations)) holds exactly the
/// `*.toml` files of `dir`, with the same text. The macro lists its files by hand, so a new
/// revision left off the list would silently not be applied at start-up: call this in one
/// of the service's tests.
///
/// ```ignore
/// #[test]
/// fn every_revision_is_embedded() {
///     almacen_migrate::graph::check_embedded(MIGRATIONS, "migrations".as_ref()).unwrap();
/// }
/// ```
pub fn check_embedded(embedded: &[(&str, &str)], dir: &Path) -> Result<(), GraphError> {
    let folder_error = |e: std::io::Error| GraphError::Folder { path: dir.display().to_string(), problem: e.to_string() };
    let mut on_disk = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(folder_error)? {
        let path = entry.map_err(folder_error)?.path();
        if path.extension().is_some_and(|e| e == "toml") && path.is_file() {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
            on_disk.push((name, std::fs::read_to_string(&path).map_err(folder_error)?));
        }
    }
    let base = |name: &str| Path::new(name).file_name().and_then(|n| n.to_str()).unwrap_or(name).to_string();
    let mut problems = Vec::new();
    for (name, text) in &on_disk {
        match embedded.iter().find(|(e, _)| base(e) == *name) {
            None => problems.push(format!("{name} is not embedded (add it to embed_migrations!)")),
            Some((_, e)) if e != text => problems.push(format!("{name} differs from its embedded copy (rebuild)")),
            Some(_) => {}
        }
    }
    for (name, _) in embedded {
        if !on_disk.iter().any(|(d, _)| *d == base(name)) {
            problems.push(format!("{name} is embedded but not in {}", dir.display()));
        }
    }
    if problems.is_empty() { Ok(()) } else { Err(GraphError::Embedded(problems.join("; "))) }
}

/// A validated history of revisions, kept in history order: every revision after its
/// parents (ties by creation time, then id), so the first is a base and applying in this
/// order always works.
#[derive(Debug, Clone)]
pub struct Migrations {
    revisions: Vec<Revision>,
    /// Where each revision came from, for messages.
    files: Vec<String>,
    index: HashMap<String, usize>,
    parents: Vec<Vec<usize>>,
    children: Vec<Vec<usize>>,
}

impl Migrations {
    /// Read every `*.toml` file of a folder (other files are left alone). A missing folder
    /// is an error, not an empty history: a mistyped path must not look like "nothing to do".
    pub fn from_dir(dir: &Path) -> Result<Migrations, GraphError> {
        let folder_error = |e: std::io::Error| GraphError::Folder { path: dir.display().to_string(), problem: e.to_string() };
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(GraphError::Folder {
                    path: dir.display().to_string(),
                    problem: "no such folder (`migrate init` creates it)".into(),
                });
            }
            Err(e) => return Err(folder_error(e)),
        };
        let mut paths = Vec::new();
        for entry in entries {
            let path = entry.map_err(folder_error)?.path();
            if path.extension().is_some_and(|e| e == "toml") && path.is_file() {
                paths.push(path);
            }
        }
        paths.sort();
        let mut revisions = Vec::with_capacity(paths.len());
        for path in paths {
            revisions.push((path.display().to_string(), Revision::read(&path)?));
        }
        Migrations::from_files(revisions)
    }

    /// Read revisions embedded in the binary: `(file name, contents)` pairs, as
    /// [`embed_migrations!`](crate::embed_migrations) gives them.
    ///
    /// ```
    /// use almacen_migrate::graph::Migrations;
    /// let m = Migrations::from_embedded(&[(
    ///     "0123456789ab_init.toml",
    ///     "id = \"0123456789ab\"\nparents = []\nmessage = \"init\"\ncreated = \"2026-12-06T14:00:00Z\"\nupgrade = []\ndowngrade = []\n",
    /// )])
    /// .unwrap();
    /// assert_eq!(m.head().unwrap().unwrap().id, "0123456789ab");
    /// ```
    pub fn from_embedded(files: &[(&str, &str)]) -> Result<Migrations, GraphError> {
        let mut revisions = Vec::with_capacity(files.len());
        for (name, text) in files {
            revisions.push((name.to_string(), Revision::parse(name, text)?));
        }
        Migrations::from_files(revisions)
    }

    /// Revisions built in memory (their file names are derived from them).
    pub fn from_revisions(revisions: Vec<Revision>) -> Result<Migrations, GraphError> {
        Migrations::from_files(revisions.into_iter().map(|r| (r.file_name(), r)).collect())
    }

    /// Validate `(file, revision)` pairs and order them.
    fn from_files(mut input: Vec<(String, Revision)>) -> Result<Migrations, GraphError> {
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (i, (file, r)) in input.iter().enumerate() {
            if let Some(&j) = seen.get(r.id.as_str()) {
                return Err(GraphError::DuplicateId { id: r.id.clone(), first: input[j].0.clone(), second: file.clone() });
            }
            seen.insert(&r.id, i);
        }
        for (file, r) in &input {
            if let Some(parent) = r.parents.iter().find(|p| !seen.contains_key(p.as_str())) {
                return Err(GraphError::MissingParent { id: r.id.clone(), file: file.clone(), parent: parent.clone() });
            }
        }
        // Kahn's algorithm, taking the earliest-created ready revision first so the order
        // is stable and reads like the history.
        let n = input.len();
        let pos: HashMap<String, usize> = input.iter().enumerate().map(|(i, (_, r))| (r.id.clone(), i)).collect();
        let mut waiting: Vec<usize> = input.iter().map(|(_, r)| r.parents.len()).collect();
        let mut kids = vec![Vec::new(); n];
        for (i, (_, r)) in input.iter().enumerate() {
            for p in &r.parents {
                kids[pos[p]].push(i);
            }
        }
        let key = |i: usize| (input[i].1.created, input[i].1.id.clone());
        let mut ready: BTreeSet<_> = (0..n).filter(|&i| waiting[i] == 0).map(|i| (key(i), i)).collect();
        let mut order = Vec::with_capacity(n);
        while let Some(first) = ready.pop_first() {
            let i = first.1;
            order.push(i);
            for &k in &kids[i] {
                waiting[k] -= 1;
                if waiting[k] == 0 {
                    ready.insert((key(k), k));
                }
            }
        }
        if order.len() < n {
            return Err(GraphError::Cycle(find_cycle(&input, &pos, &waiting)));
        }
        let mut slots: Vec<Option<(String, Revision)>> = input.drain(..).map(Some).collect();
        let (files, revisions): (Vec<String>, Vec<Revision>) = order.iter().map(|&i| slots[i].take().expect("each once")).unzip();
        let index: HashMap<String, usize> = revisions.iter().enumerate().map(|(i, r)| (r.id.clone(), i)).collect();
        let parents: Vec<Vec<usize>> = revisions.iter().map(|r| r.parents.iter().map(|p| index[p]).collect()).collect();
        let mut children = vec![Vec::new(); n];
        for (i, ps) in parents.iter().enumerate() {
            for &p in ps {
                children[p].push(i);
            }
        }
        Ok(Migrations { revisions, files, index, parents, children })
    }

    /// Whether there are no revisions.
    pub fn is_empty(&self) -> bool {
        self.revisions.is_empty()
    }

    /// How many revisions there are.
    pub fn len(&self) -> usize {
        self.revisions.len()
    }

    /// Every revision, in history order (each after its parents; bases first).
    pub fn history(&self) -> &[Revision] {
        &self.revisions
    }

    /// A revision by its full id.
    pub fn get(&self, id: &str) -> Option<&Revision> {
        self.index.get(id).map(|&i| &self.revisions[i])
    }

    /// The file a revision was read from (or would be written to).
    pub fn file_of(&self, id: &str) -> Option<&str> {
        self.index.get(id).map(|&i| self.files[i].as_str())
    }

    /// The revisions no other revision follows, in history order.
    pub fn heads(&self) -> Vec<&Revision> {
        (0..self.len()).filter(|&i| self.children[i].is_empty()).map(|i| &self.revisions[i]).collect()
    }

    /// The revisions without parents, in history order.
    pub fn bases(&self) -> Vec<&Revision> {
        (0..self.len()).filter(|&i| self.parents[i].is_empty()).map(|i| &self.revisions[i]).collect()
    }

    /// The one head: `None` when there are no revisions, [`GraphError::Branches`] (both
    /// ids and messages) when there are several.
    pub fn head(&self) -> Result<Option<&Revision>, GraphError> {
        let heads = self.heads();
        if heads.len() > 1 {
            return Err(self.branches(heads.iter().map(|r| self.index[&r.id])));
        }
        Ok(heads.into_iter().next())
    }

    fn branches(&self, heads: impl Iterator<Item = usize>) -> GraphError {
        GraphError::Branches(heads.map(|i| (self.revisions[i].id.clone(), self.revisions[i].summary().to_string())).collect())
    }

    /// A revision by id or unique prefix; an ambiguous prefix is an error listing the
    /// revisions it matches.
    pub fn resolve(&self, given: &str) -> Result<&Revision, GraphError> {
        self.resolve_index(given).map(|i| &self.revisions[i])
    }

    fn resolve_index(&self, given: &str) -> Result<usize, GraphError> {
        if let Some(&i) = self.index.get(given) {
            return Ok(i);
        }
        let matches: Vec<usize> =
            if given.is_empty() { Vec::new() } else { (0..self.len()).filter(|&i| self.revisions[i].id.starts_with(given)).collect() };
        match matches[..] {
            [] => Err(GraphError::UnknownRevision(given.to_string())),
            [i] => Ok(i),
            _ => Err(GraphError::AmbiguousRevision {
                given: given.to_string(),
                candidates: matches.iter().map(|&i| (self.revisions[i].id.clone(), self.revisions[i].summary().to_string())).collect(),
            }),
        }
    }

    /// A new, empty revision following the one head (none for the first revision); an
    /// error when the history branches (merge first).
    pub fn new_revision(&self, message: &str) -> Result<Revision, GraphError> {
        let parents = self.head()?.map(|h| vec![h.id.clone()]).unwrap_or_default();
        Ok(self.fresh(message, parents))
    }

    /// A merge revision: its parents are all the heads, its operations none. An error when
    /// there is nothing to merge.
    ///
    /// ```
    /// # use almacen_migrate::{graph::Migrations, revision::Revision};
    /// let base = Revision::new("base", vec![]);
    /// let a = Revision::new("a", vec![base.id.clone()]);
    /// let b = Revision::new("b", vec![base.id.clone()]);
    /// let m = Migrations::from_revisions(vec![base, a, b]).unwrap();
    /// assert!(m.head().is_err());
    /// let merge = m.merge_revision("merge a and b").unwrap();
    /// assert_eq!(merge.parents.len(), 2);
    /// ```
    pub fn merge_revision(&self, message: &str) -> Result<Revision, GraphError> {
        let heads = self.heads();
        if heads.len() < 2 {
            return Err(GraphError::Target(format!("nothing to merge: the history has {} head(s)", heads.len())));
        }
        Ok(self.fresh(message, heads.iter().map(|h| h.id.clone()).collect()))
    }

    /// A new revision with an id no revision here has.
    fn fresh(&self, message: &str, parents: Vec<String>) -> Revision {
        loop {
            let r = Revision::new(message, parents.clone());
            if !self.index.contains_key(&r.id) {
                return r;
            }
        }
    }

    /// The revisions applied when the version table holds `rows`: they and all their
    /// ancestors, as flags by history position.
    pub(crate) fn applied(&self, rows: &[String]) -> Result<Vec<bool>, GraphError> {
        let mut applied = vec![false; self.len()];
        let mut stack = Vec::new();
        for row in rows {
            let &i = self.index.get(row).ok_or_else(|| GraphError::UnknownApplied(row.clone()))?;
            stack.push(i);
        }
        while let Some(i) = stack.pop() {
            if !std::mem::replace(&mut applied[i], true) {
                stack.extend(&self.parents[i]);
            }
        }
        Ok(applied)
    }

    /// The version table's rows for a set of applied revisions: those with no applied
    /// child, in history order.
    pub(crate) fn rows_for(&self, applied: &[bool]) -> Vec<String> {
        (0..self.len())
            .filter(|&i| applied[i] && !self.children[i].iter().any(|&c| applied[c]))
            .map(|i| self.revisions[i].id.clone())
            .collect()
    }

    /// A revision and its ancestors, as flags.
    fn ancestors_of(&self, i: usize) -> Vec<bool> {
        let mut out = vec![false; self.len()];
        let mut stack = vec![i];
        while let Some(j) = stack.pop() {
            if !std::mem::replace(&mut out[j], true) {
                stack.extend(&self.parents[j]);
            }
        }
        out
    }

    /// The revisions to apply, in order, to go from the version table's `rows` to `target`.
    pub fn upgrade_plan(&self, rows: &[String], target: &UpgradeTarget) -> Result<Vec<&Revision>, GraphError> {
        Ok(self.upgrade_plan_indexes(rows, target)?.into_iter().map(|i| &self.revisions[i]).collect())
    }

    pub(crate) fn upgrade_plan_indexes(&self, rows: &[String], target: &UpgradeTarget) -> Result<Vec<usize>, GraphError> {
        let applied = self.applied(rows)?;
        let pending = |goal: &[bool]| (0..self.len()).filter(|&i| goal[i] && !applied[i]).collect::<Vec<_>>();
        match target {
            UpgradeTarget::Heads => Ok(pending(&vec![true; self.len()])),
            UpgradeTarget::Head => match self.head()? {
                Some(h) => Ok(pending(&self.ancestors_of(self.index[&h.id]))),
                None => Ok(Vec::new()),
            },
            UpgradeTarget::Revision(given) => Ok(pending(&self.ancestors_of(self.resolve_index(given)?))),
            UpgradeTarget::Relative(n) => {
                let Some(h) = self.head()? else {
                    return Err(GraphError::Target(format!("cannot upgrade +{n}: there are no revisions")));
                };
                let all = pending(&self.ancestors_of(self.index[&h.id]));
                if all.len() < *n {
                    return Err(GraphError::Target(format!(
                        "cannot upgrade +{n}: only {} revision(s) are left to apply up to the head {}",
                        all.len(),
                        h.id
                    )));
                }
                Ok(all[..*n].to_vec())
            }
        }
    }

    /// The revisions to undo, in order (latest first), to go from the version table's
    /// `rows` to `target`.
    pub fn downgrade_plan(&self, rows: &[String], target: &DowngradeTarget) -> Result<Vec<&Revision>, GraphError> {
        Ok(self.downgrade_plan_indexes(rows, target)?.into_iter().map(|i| &self.revisions[i]).collect())
    }

    pub(crate) fn downgrade_plan_indexes(&self, rows: &[String], target: &DowngradeTarget) -> Result<Vec<usize>, GraphError> {
        let applied = self.applied(rows)?;
        let latest_first = |remove: &dyn Fn(usize) -> bool| (0..self.len()).rev().filter(|&i| applied[i] && remove(i)).collect::<Vec<_>>();
        match target {
            DowngradeTarget::Base => Ok(latest_first(&|_| true)),
            DowngradeTarget::Revision(given) => {
                let keep = self.resolve_index(given)?;
                if !applied[keep] {
                    return Err(GraphError::Target(format!(
                        "cannot downgrade to {}: it is not applied (the database is at {})",
                        self.revisions[keep].id,
                        show_rows(rows)
                    )));
                }
                // Everything applied that follows `keep`.
                Ok(latest_first(&|i| i != keep && self.ancestors_of(i)[keep]))
            }
            DowngradeTarget::Relative(n) => {
                let heads: Vec<usize> = (0..self.len()).filter(|&i| applied[i] && !self.children[i].iter().any(|&c| applied[c])).collect();
                let mut cur = match heads[..] {
                    [] => return Err(GraphError::Target(format!("cannot downgrade -{n}: no revision is applied"))),
                    [h] => h,
                    _ => {
                        return Err(GraphError::Target(format!(
                            "cannot downgrade -{n}: the database is at {} heads ({}); name the revision to go down to",
                            heads.len(),
                            show_rows(rows)
                        )));
                    }
                };
                let mut out = Vec::with_capacity(*n);
                loop {
                    out.push(cur);
                    if out.len() == *n {
                        return Ok(out);
                    }
                    match self.parents[cur][..] {
                        [] => {
                            return Err(GraphError::Target(format!("cannot downgrade -{n}: only {} revision(s) are applied", out.len())));
                        }
                        [p] => cur = p,
                        _ => {
                            return Err(GraphError::Target(format!(
                                "cannot downgrade -{n}: revision {} merges {} branches, so the way down is not one line; name the revision to go down to",
                                self.revisions[cur].id,
                                self.parents[cur].len()
                            )));
                        }
                    }
                }
            }
        }
    }

    /// The version table's rows that `stamp` writes for `target`.
    pub fn stamp_rows(&self, target: &StampTarget) -> Result<Vec<String>, GraphError> {
        match target {
            StampTarget::Base => Ok(Vec::new()),
            StampTarget::Head => Ok(self.head()?.map(|h| vec![h.id.clone()]).unwrap_or_default()),
            StampTarget::Heads => Ok(self.heads().iter().map(|h| h.id.clone()).collect()),
            StampTarget::Revisions(given) => {
                let mut flags = vec![false; self.len()];
                for g in given {
                    flags[self.resolve_index(g)?] = true;
                }
                let ids: Vec<String> = (0..self.len()).filter(|&i| flags[i]).map(|i| self.revisions[i].id.clone()).collect();
                // One revision following another leaves only the later one in the table.
                Ok(self.rows_for(&self.applied(&ids)?))
            }
        }
    }

    /// Parent positions of a revision.
    pub(crate) fn parent_indexes(&self, i: usize) -> &[usize] {
        &self.parents[i]
    }

    /// Child positions of a revision.
    pub(crate) fn child_indexes(&self, i: usize) -> &[usize] {
        &self.children[i]
    }

    /// The revision at a history position.
    pub(crate) fn at(&self, i: usize) -> &Revision {
        &self.revisions[i]
    }

    /// The history position of a revision.
    #[cfg(test)]
    pub(crate) fn position(&self, id: &str) -> Option<usize> {
        self.index.get(id).copied()
    }
}

fn show_rows(rows: &[String]) -> String {
    if rows.is_empty() { "base".to_string() } else { rows.join(", ") }
}

impl fmt::Display for Migrations {
    /// One line per revision, latest first: id, parents, message (heads marked).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for i in (0..self.len()).rev() {
            let r = &self.revisions[i];
            let from = if r.parents.is_empty() { "<base>".to_string() } else { r.parents.join(", ") };
            let head = if self.children[i].is_empty() { " (head)" } else { "" };
            writeln!(f, "{from} -> {}{head}, {}", r.id, r.summary())?;
        }
        Ok(())
    }
}

/// A cycle among the revisions Kahn's algorithm could not order: walk parents that are
/// still waiting until one repeats.
fn find_cycle(input: &[(String, Revision)], pos: &HashMap<String, usize>, waiting: &[usize]) -> Vec<String> {
    let start = (0..input.len()).find(|&i| waiting[i] > 0).expect("a revision left over");
    let mut path = vec![start];
    let mut cur = start;
    loop {
        let next = input[cur].1.parents.iter().map(|p| pos[p]).find(|&p| waiting[p] > 0).expect("a waiting revision has a waiting parent");
        if let Some(at) = path.iter().position(|&i| i == next) {
            // Shown in history direction: parent -> child.
            let mut ids: Vec<String> = path[at..].iter().rev().map(|&i| input[i].1.id.clone()).collect();
            ids.push(ids[0].clone());
            return ids;
        }
        path.push(next);
        cur = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rev(id: &str, parents: &[&str], message: &str, minute: u32) -> Revision {
        let mut r = Revision::new(message, parents.iter().map(|p| p.to_string()).collect());
        r.id = id.to_string();
        r.created = format!("2026-12-06T10:{minute:02}:00Z").parse().unwrap();
        r
    }

    const A: &str = "aaaaaaaaaaa1";
    const B: &str = "bbbbbbbbbbb2";
    const C: &str = "ccccccccccc3";
    const D: &str = "ddddddddddd4";
    const M: &str = "eeeeeeeeeee5";

    /// A -> B -> C, A -> D (two heads: C and D).
    fn branched() -> Migrations {
        Migrations::from_revisions(vec![rev(C, &[B], "c", 3), rev(A, &[], "a", 0), rev(D, &[A], "d", 4), rev(B, &[A], "b", 1)]).unwrap()
    }

    fn ids(revs: &[&Revision]) -> Vec<String> {
        revs.iter().map(|r| r.id.clone()).collect()
    }

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn history_heads_and_bases() {
        let m = branched();
        assert_eq!(m.history().iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), [A, B, C, D]);
        assert_eq!(ids(&m.heads()), s(&[C, D]));
        assert_eq!(ids(&m.bases()), s(&[A]));
        let e = m.head().unwrap_err();
        assert_eq!(e, GraphError::Branches(vec![(C.into(), "c".into()), (D.into(), "d".into())]));
        let shown = e.to_string();
        assert!(
            shown.contains("2 heads") && shown.contains(C) && shown.contains("\"c\"") && shown.contains(D) && shown.contains("\"d\""),
            "{shown}"
        );
        assert!(m.new_revision("x").is_err());
        let shown = m.to_string();
        assert!(shown.starts_with(&format!("{A} -> {D} (head), d\n")), "{shown}");
    }

    #[test]
    fn merge_resolves_the_branch() {
        let m = branched();
        let mut merge = m.merge_revision("merge").unwrap();
        assert_eq!(merge.parents, s(&[C, D]));
        merge.id = M.into();
        let mut all = m.history().to_vec();
        all.push(merge);
        let m = Migrations::from_revisions(all).unwrap();
        assert_eq!(m.head().unwrap().unwrap().id, M);
        let next = m.new_revision("after").unwrap();
        assert_eq!(next.parents, s(&[M]));
        assert!(m.merge_revision("again").is_err());
        // Downgrading the merge leaves both branches applied.
        let plan = m.downgrade_plan(&s(&[M]), &DowngradeTarget::Relative(1)).unwrap();
        assert_eq!(ids(&plan), s(&[M]));
        let e = m.downgrade_plan(&s(&[M]), &DowngradeTarget::Relative(2)).unwrap_err();
        assert!(e.to_string().contains("merges 2 branches"), "{e}");
        let mut applied = m.applied(&s(&[M])).unwrap();
        applied[m.position(M).unwrap()] = false;
        assert_eq!(m.rows_for(&applied), s(&[C, D]));
    }

    #[test]
    fn validation_errors() {
        let e = Migrations::from_revisions(vec![rev(A, &[], "a", 0), rev(A, &[], "a again", 1)]).unwrap_err();
        assert!(matches!(e, GraphError::DuplicateId { ref id, .. } if id == A), "{e}");
        assert!(e.to_string().contains(&format!("{A}_a.toml")) && e.to_string().contains(&format!("{A}_a_again.toml")), "{e}");

        let e = Migrations::from_revisions(vec![rev(A, &[], "a", 0), rev(B, &[C], "b", 1)]).unwrap_err();
        assert_eq!(e.to_string(), format!("{B}_b.toml: parent {C} of revision {B} is not among the revisions"));

        let e = Migrations::from_revisions(vec![rev(A, &[], "a", 0), rev(B, &[A, D], "b", 1), rev(C, &[B], "c", 2), rev(D, &[C], "d", 3)])
            .unwrap_err();
        let GraphError::Cycle(cycle) = &e else { panic!("{e}") };
        assert_eq!(cycle.len(), 4, "{e}");
        assert_eq!(cycle.first(), cycle.last());
        for id in [B, C, D] {
            assert!(cycle.contains(&id.to_string()), "{e}");
        }
        assert!(!cycle.contains(&A.to_string()), "{e}");

        let e = Migrations::from_embedded(&[("x.toml", "id = 1")]).unwrap_err();
        assert!(e.to_string().starts_with("x.toml: "), "{e}");
    }

    #[test]
    fn prefixes() {
        let m =
            Migrations::from_revisions(vec![rev("abc000000001", &[], "one", 0), rev("abc000000002", &["abc000000001"], "two", 1)]).unwrap();
        assert_eq!(m.resolve("abc000000002").unwrap().message, "two");
        assert!(matches!(m.resolve("abc0000000"), Err(GraphError::AmbiguousRevision { .. })));
        let e = m.resolve("abc").unwrap_err();
        assert_eq!(
            e,
            GraphError::AmbiguousRevision {
                given: "abc".into(),
                candidates: vec![("abc000000001".into(), "one".into()), ("abc000000002".into(), "two".into())]
            }
        );
        assert!(e.to_string().contains("\"one\"") && e.to_string().contains("\"two\""), "{e}");
        assert_eq!(m.resolve("abc000000001").unwrap().message, "one");
        assert_eq!(m.resolve("f").unwrap_err(), GraphError::UnknownRevision("f".into()));
        assert_eq!(m.resolve("").unwrap_err(), GraphError::UnknownRevision("".into()));
    }

    #[test]
    fn targets_parse() {
        assert_eq!("head".parse::<UpgradeTarget>().unwrap(), UpgradeTarget::Head);
        assert_eq!("heads".parse::<UpgradeTarget>().unwrap(), UpgradeTarget::Heads);
        assert_eq!("+3".parse::<UpgradeTarget>().unwrap(), UpgradeTarget::Relative(3));
        assert!("+0".parse::<UpgradeTarget>().is_err());
        assert!("+x".parse::<UpgradeTarget>().unwrap_err().to_string().contains("+1"));
        assert_eq!("-2".parse::<DowngradeTarget>().unwrap(), DowngradeTarget::Relative(2));
        assert_eq!("base".parse::<DowngradeTarget>().unwrap(), DowngradeTarget::Base);
        assert_eq!("ab12".parse::<DowngradeTarget>().unwrap(), DowngradeTarget::Revision("ab12".into()));
        assert_eq!("a1, b2".parse::<StampTarget>().unwrap(), StampTarget::Revisions(s(&["a1", "b2"])));
    }

    #[test]
    fn plans() {
        let m = branched();
        // From nothing.
        assert_eq!(ids(&m.upgrade_plan(&[], &UpgradeTarget::Heads).unwrap()), s(&[A, B, C, D]));
        assert!(matches!(m.upgrade_plan(&[], &UpgradeTarget::Head), Err(GraphError::Branches(_))));
        assert_eq!(ids(&m.upgrade_plan(&[], &UpgradeTarget::Revision("ccc".into())).unwrap()), s(&[A, B, C]));
        // From B: C is next on its branch; D's branch starts from A.
        assert_eq!(ids(&m.upgrade_plan(&s(&[B]), &UpgradeTarget::Heads).unwrap()), s(&[C, D]));
        assert!(m.upgrade_plan(&s(&[C, D]), &UpgradeTarget::Heads).unwrap().is_empty());
        assert_eq!(
            m.upgrade_plan(&s(&["ffffffffffff"]), &UpgradeTarget::Heads).unwrap_err(),
            GraphError::UnknownApplied("ffffffffffff".into())
        );
        // Downgrades.
        assert_eq!(ids(&m.downgrade_plan(&s(&[C, D]), &DowngradeTarget::Base).unwrap()), s(&[D, C, B, A]));
        assert_eq!(ids(&m.downgrade_plan(&s(&[C, D]), &DowngradeTarget::Revision(A.into())).unwrap()), s(&[D, C, B]));
        assert_eq!(ids(&m.downgrade_plan(&s(&[C, D]), &DowngradeTarget::Revision(B.into())).unwrap()), s(&[C]));
        assert!(m.downgrade_plan(&s(&[C, D]), &DowngradeTarget::Relative(1)).unwrap_err().to_string().contains("2 heads"));
        assert_eq!(ids(&m.downgrade_plan(&s(&[C]), &DowngradeTarget::Relative(2)).unwrap()), s(&[C, B]));
        assert!(m.downgrade_plan(&s(&[C]), &DowngradeTarget::Relative(4)).unwrap_err().to_string().contains("only 3"));
        assert!(m.downgrade_plan(&s(&[B]), &DowngradeTarget::Revision(D.into())).unwrap_err().to_string().contains("not applied"));
        assert!(m.downgrade_plan(&[], &DowngradeTarget::Relative(1)).is_err());
        // Stamps.
        assert_eq!(m.stamp_rows(&StampTarget::Heads).unwrap(), s(&[C, D]));
        assert_eq!(m.stamp_rows(&StampTarget::Revisions(s(&["bbb", "ccc", "aaa"]))).unwrap(), s(&[C]));
        assert!(m.stamp_rows(&StampTarget::Head).is_err());
        assert!(m.stamp_rows(&StampTarget::Base).unwrap().is_empty());
    }

    #[test]
    fn relative_upgrade_on_a_line() {
        let m = Migrations::from_revisions(vec![rev(A, &[], "a", 0), rev(B, &[A], "b", 1), rev(C, &[B], "c", 2)]).unwrap();
        assert_eq!(ids(&m.upgrade_plan(&[], &UpgradeTarget::Relative(2)).unwrap()), s(&[A, B]));
        assert_eq!(ids(&m.upgrade_plan(&s(&[B]), &UpgradeTarget::Relative(1)).unwrap()), s(&[C]));
        let e = m.upgrade_plan(&s(&[B]), &UpgradeTarget::Relative(2)).unwrap_err();
        assert!(e.to_string().contains("only 1 revision(s)"), "{e}");
    }

    #[test]
    fn folder_reading() {
        let dir = std::env::temp_dir().join(format!("almacen_graph_{}", crate::revision::new_id()));
        let e = Migrations::from_dir(&dir).unwrap_err();
        assert!(e.to_string().contains("no such folder"), "{e}");
        std::fs::create_dir_all(&dir).unwrap();
        assert!(Migrations::from_dir(&dir).unwrap().is_empty());
        let a = rev(A, &[], "a", 0);
        let b = rev(B, &[A], "b", 1);
        a.write_new(&dir).unwrap();
        b.write_new(&dir).unwrap();
        std::fs::write(dir.join("README.md"), "not a revision").unwrap();
        let m = Migrations::from_dir(&dir).unwrap();
        assert_eq!(m.history(), &[a, b]);
        assert!(m.file_of(B).unwrap().ends_with(&format!("{B}_b.toml")));
        std::fs::write(dir.join(format!("{C}_c.toml")), "id = \"cccccccccccc\"").unwrap();
        let e = Migrations::from_dir(&dir).unwrap_err();
        assert!(e.to_string().contains(&format!("{C}_c.toml: ")), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
