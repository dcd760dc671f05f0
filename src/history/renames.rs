//! Renames: under which names an artifact's records are.
//!
//! A rename is an event (`RenameRecord`, marked in `renames/`): "from now on FROM is known as
//! TO". Records are never moved: the records of FROM stay marked under FROM, and readers count
//! them as TO's. Which name a name stands for is decided by **the newest rename event that
//! involves it** (by `(time_ns, record id)`, as alias events are):
//!
//! - if that event renames the name away (`N → M`), `N` now points at `M`;
//! - if it renames another name onto it (`M → N`), or there is none, `N` is an artifact's own
//!   name.
//!
//! An artifact's history is then the records of its name and of every name that points at it,
//! directly or along a chain. This is a function of the set of events, so stores merged in any
//! order agree, and it never forms a cycle: if `N` pointed at `M` through event `e` and `M` at
//! `N` through `f`, `f` involves `N` and `e` involves `M`, so each would have to be newer than
//! the other. (A chain is still followed at most once per event, so a forged store cannot make a
//! reader loop.)
//!
//! Consequences: a chain `A → B → C` gathers A's and B's records under C; renaming back
//! (`A → B`, then `B → A`) makes A the name again, with every record; of two machines renaming A
//! to B and to C, the newer rename wins (B keeps only what was committed under B itself); and a
//! commit made under A by a machine that had not seen `A → B` joins B's history after a merge,
//! since it is marked under A.

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use crate::error::{Error, RecordProblem, Result};
use crate::id::ObjectId;
use crate::key::ArtifactKey;
use crate::object::{Kind, RenameRecord, Structured};
use crate::store::Store;
use crate::store::markers as refs;

/// One readable rename event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenameEvent {
    /// The rename record's id.
    pub id: ObjectId,
    /// The name before.
    pub from: ArtifactKey,
    /// The name after.
    pub to: ArtifactKey,
    /// When it was made (ns since the epoch).
    pub time_ns: i64,
}

impl RenameEvent {
    /// The order of events: newest wins.
    pub fn order_key(&self) -> (i64, ObjectId) {
        (self.time_ns, self.id)
    }
}

/// Every rename event of a store, and the names they leave pointing elsewhere.
#[derive(Clone, Debug, Default)]
pub struct Renames {
    events: Vec<RenameEvent>,
    /// For each name some event involves: the index of the newest such event.
    newest: FxHashMap<ArtifactKey, usize>,
    /// Rename records marked in `renames/` that cannot be read: while there are any, no history
    /// is complete (the record could move any artifact's records).
    pub problems: Vec<RecordProblem>,
}

/// Validates a decoded rename record: both names valid and different.
pub(super) fn event_of(id: ObjectId, r: RenameRecord) -> std::result::Result<RenameEvent, String> {
    let from = ArtifactKey::new(&r.from_type, &r.from_name).map_err(|e| e.to_string())?;
    let to = ArtifactKey::new(&r.to_type, &r.to_name).map_err(|e| e.to_string())?;
    if from == to {
        return Err(format!("a rename of {from} to itself"));
    }
    Ok(RenameEvent {
        id,
        from,
        to,
        time_ns: r.time_ns,
    })
}

impl Renames {
    /// The rename events marked in the store's `renames/`.
    pub(crate) fn load(store: &Store) -> Result<Renames> {
        let ids = refs::marker_ids(&store.layout().renames_dir())?;
        if ids.is_empty() {
            return Ok(Renames::default());
        }
        let loaded: Vec<(ObjectId, std::result::Result<RenameEvent, RecordProblem>)> = ids
            .par_iter()
            .map(|id| (*id, store.read_rename(id)))
            .collect();
        let mut events = Vec::new();
        let mut problems = Vec::new();
        for (_, r) in loaded {
            match r {
                Ok(e) => events.push(e),
                Err(p) => problems.push(p),
            }
        }
        let mut renames = Renames::from_events(events);
        renames.problems = problems;
        Ok(renames)
    }

    /// The renames of these events (in any order).
    pub fn from_events(mut events: Vec<RenameEvent>) -> Renames {
        events.sort_by_key(RenameEvent::order_key);
        events.dedup_by_key(|e| e.id);
        let mut newest = FxHashMap::default();
        // Oldest first, so the last event seen for a name is its newest.
        for (i, e) in events.iter().enumerate() {
            newest.insert(e.from.clone(), i);
            newest.insert(e.to.clone(), i);
        }
        Renames {
            events,
            newest,
            problems: Vec::new(),
        }
    }

    /// The readable events, oldest first.
    pub fn events(&self) -> &[RenameEvent] {
        &self.events
    }

    /// The name `key` points at, if the newest event involving it renamed it away.
    pub fn redirect(&self, key: &ArtifactKey) -> Option<&ArtifactKey> {
        let e = &self.events[*self.newest.get(key)?];
        (&e.from == key).then_some(&e.to)
    }

    /// The name the artifact once called `key` has now: `key` itself unless it was renamed.
    pub fn current(&self, key: &ArtifactKey) -> ArtifactKey {
        let mut k = key;
        // Chains cannot loop (see the module documentation); the bound is for forged stores.
        for _ in 0..=self.events.len() {
            match self.redirect(k) {
                Some(next) => k = next,
                None => break,
            }
        }
        k.clone()
    }

    /// The former names whose records count as `current`'s (not `current` itself), sorted.
    pub fn former_names(&self, current: &ArtifactKey) -> Vec<ArtifactKey> {
        let mut out: Vec<ArtifactKey> = self
            .newest
            .keys()
            .filter(|k| *k != current && self.redirect(k).is_some() && &self.current(k) == current)
            .cloned()
            .collect();
        out.sort();
        out
    }

    /// The events that renamed something onto one of `names` (statements that the artifact is
    /// in use, like a commit: see `derive`).
    pub fn onto<'a>(&'a self, names: &'a [ArtifactKey]) -> impl Iterator<Item = &'a RenameEvent> {
        self.events.iter().filter(|e| names.contains(&e.to))
    }

    /// Every name some event involves.
    pub fn names(&self) -> impl Iterator<Item = &ArtifactKey> {
        self.newest.keys()
    }
}

impl Store {
    /// Reads the rename record `id` (marked in `renames/`); one that cannot be used comes back
    /// as the problem.
    fn read_rename(&self, id: &ObjectId) -> std::result::Result<RenameEvent, RecordProblem> {
        let problem = |e: Error| RecordProblem::from_error(*id, &e);
        let (kind, raw) = self.read_object(id).map_err(problem)?;
        if kind != Kind::Rename {
            return Err(RecordProblem {
                id: *id,
                missing: false,
                reason: format!("a {} is marked as a rename record", kind.name()),
            });
        }
        let r = RenameRecord::decode(*id, &raw).map_err(problem)?;
        event_of(*id, r).map_err(|reason| RecordProblem {
            id: *id,
            missing: false,
            reason: format!("invalid rename record: {reason}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> ArtifactKey {
        let (t, n) = s.split_once('/').unwrap();
        ArtifactKey::new(t, n).unwrap()
    }

    fn event(from: &str, to: &str, time_ns: i64) -> RenameEvent {
        let r = RenameRecord {
            from_type: key(from).artifact_type,
            from_name: key(from).name,
            to_type: key(to).artifact_type,
            to_name: key(to).name,
            time_ns,
            host: String::new(),
        };
        let id = ObjectId::compute(Kind::Rename, &r.encode());
        event_of(id, r).unwrap()
    }

    /// Every order of `events` gives the same answers.
    fn in_every_order(events: &[RenameEvent], check: impl Fn(&Renames)) {
        for rotation in 0..events.len().max(1) {
            let mut e = events.to_vec();
            e.rotate_left(rotation);
            check(&Renames::from_events(e.clone()));
            e.reverse();
            check(&Renames::from_events(e));
        }
    }

    #[test]
    fn a_chain_gathers_every_former_name() {
        let events = [event("t/a", "t/b", 1), event("t/b", "u/c", 2)];
        in_every_order(&events, |r| {
            assert_eq!(r.current(&key("t/a")), key("u/c"));
            assert_eq!(r.current(&key("t/b")), key("u/c"));
            assert_eq!(r.current(&key("u/c")), key("u/c"));
            assert_eq!(r.former_names(&key("u/c")), [key("t/a"), key("t/b")]);
            assert!(r.former_names(&key("t/a")).is_empty());
        });
    }

    #[test]
    fn renaming_back_makes_the_first_name_current_again() {
        let events = [event("t/a", "t/b", 1), event("t/b", "t/a", 2)];
        in_every_order(&events, |r| {
            assert_eq!(r.current(&key("t/a")), key("t/a"));
            assert_eq!(r.current(&key("t/b")), key("t/a"));
            assert_eq!(r.former_names(&key("t/a")), [key("t/b")]);
        });
    }

    #[test]
    fn of_two_renames_of_one_name_the_newer_wins() {
        let events = [event("t/a", "t/b", 1), event("t/a", "t/c", 2)];
        in_every_order(&events, |r| {
            assert_eq!(r.current(&key("t/a")), key("t/c"));
            assert_eq!(r.current(&key("t/b")), key("t/b"));
            assert!(r.former_names(&key("t/b")).is_empty());
            assert_eq!(r.former_names(&key("t/c")), [key("t/a")]);
        });
    }

    /// Events that a naive rule ("follow every rename") would turn into a cycle end at one
    /// name, whatever their times, including equal times (broken by record id).
    #[test]
    fn no_set_of_events_forms_a_cycle() {
        for times in [[1, 2, 3], [3, 2, 1], [2, 2, 2], [1, 1, 2], [5, 1, 5]] {
            // a → b, b → c, c → a.
            let events = [
                event("t/a", "t/b", times[0]),
                event("t/b", "t/c", times[1]),
                event("t/c", "t/a", times[2]),
            ];
            in_every_order(&events, |r| {
                let mut ends: Vec<ArtifactKey> = ["t/a", "t/b", "t/c"]
                    .iter()
                    .map(|k| r.current(&key(k)))
                    .collect();
                // Each name ends at a name of its own ...
                for end in &ends {
                    assert_eq!(r.redirect(end), None, "{times:?}: {ends:?}");
                }
                // ... and belongs to exactly one artifact.
                ends.sort();
                ends.dedup();
                let named: usize = ends.iter().map(|e| 1 + r.former_names(e).len()).sum();
                assert_eq!(named, 3, "{times:?}: {ends:?}");
            });
        }
    }
}
