//! Runs: recording runs and their uses, and what each run logged; their config and summary
//! (state records, merged key by key) and picking runs by a summary key.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value};

use crate::capture::now_ns;
use crate::error::{Error, Result};
use crate::history::History;
use crate::id::ObjectId;
use crate::key::ArtifactKey;
use crate::names::validate_name;
use crate::object::{CommitRecord, Kind, RunRecord, RunStateRecord, Structured, UseRecord};
use crate::store::Store;
use crate::store::markers::{self as refs, Publication};

/// One artifact commit made by a run.
#[derive(Clone, Debug)]
pub struct RunArtifact {
    /// The artifact.
    pub key: ArtifactKey,
    /// Version number, when it is known: `None` while the version's records have not arrived
    /// or while some record of the artifact cannot be read (see `complete`).
    pub version: Option<usize>,
    /// Whether every record of the artifact can be read (only then are numbers given).
    pub complete: bool,
    /// Version id (root tree).
    pub tree: ObjectId,
    /// Whether this commit made the version (false: linked to an existing one).
    pub new: bool,
    /// The commit record.
    pub record: ObjectId,
    /// Commit time, ns since the epoch.
    pub time_ns: i64,
    /// The commit's message (`-m`), kept whether or not it made the version.
    pub message: String,
    /// Whether the version, or the whole artifact, is forgotten (it is still listed here: the
    /// run did log it).
    pub forgotten: bool,
}

/// A version a run used (W&B's `use_artifact`).
#[derive(Clone, Debug)]
pub struct RunUse {
    /// The artifact.
    pub key: ArtifactKey,
    /// Version number, when it is known (as for [`RunArtifact::version`]).
    pub version: Option<usize>,
    /// Whether every record of the artifact can be read.
    pub complete: bool,
    /// Version id (root tree).
    pub tree: ObjectId,
    /// When it was used, ns since the epoch.
    pub time_ns: i64,
    /// Whether the version, or the whole artifact, is forgotten since.
    pub forgotten: bool,
}

/// A run's config and summary, merged from its run record and state records (see
/// [`RunStateRecord`]): each key's value from the newest `(time_ns, record id)` record that has
/// it (the run record's config counts as the oldest), each range the min and max of all. The
/// result depends only on the set of records, so two stores merged in either order agree.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunState {
    /// Display name (W&B's `run.name`; empty for none): the newest non-empty one.
    pub name: String,
    /// Job type (empty for none).
    pub job_type: String,
    /// Group (empty for none).
    pub group: String,
    /// The configuration with its later updates.
    pub config: Map<String, Value>,
    /// Each key's last logged (or explicitly set) value.
    pub summary: Map<String, Value>,
    /// The smallest and largest value logged of each numeric key.
    pub ranges: BTreeMap<String, (f64, f64)>,
    /// Steps logged (the largest count written).
    pub steps: u64,
    /// Whether some process of the run finished it.
    pub finished: bool,
    /// The exit code of the newest finish that gave one.
    pub exit_code: Option<i32>,
    /// Tags edited during the run (W&B's `run.tags = ...`), replacing the run record's: from
    /// the newest state record whose summary holds [`RUN_FIELDS_KEY`].
    pub tags: Option<Vec<String>>,
    /// Notes edited during the run (`run.notes = ...`), as `tags`.
    pub notes: Option<String>,
    /// How many state records were merged.
    pub records: usize,
}

/// The summary key under which a state record carries the run's tags and notes as edited
/// during the run (`{"tags": [...], "notes": "..."}`): the run record holding the first ones is
/// written once, when the run starts. It is taken out of the merged summary; a codever older
/// than this field shows it as a summary key.
pub const RUN_FIELDS_KEY: &str = "_codever";

impl RunState {
    /// Merges `config_text` (a run record's config, the oldest) and `states`.
    fn merge(config_text: Option<&str>, mut states: Vec<(ObjectId, RunStateRecord)>) -> RunState {
        let mut out = RunState::default();
        if let Some(Value::Object(m)) = config_text.and_then(|t| serde_json::from_str(t).ok()) {
            out.config = m;
        }
        states.sort_by_key(|(rid, s)| (s.time_ns, *rid));
        out.records = states.len();
        for (_, s) in states {
            for (text, into) in [(&s.config, &mut out.config), (&s.summary, &mut out.summary)] {
                if let Ok(Value::Object(m)) = serde_json::from_str::<Value>(text) {
                    into.extend(m);
                }
            }
            if let Ok(Value::Object(m)) = serde_json::from_str::<Value>(&s.ranges) {
                for (k, v) in m {
                    let Some([lo, hi]) = range_of(&v) else {
                        continue;
                    };
                    let e = out.ranges.entry(k).or_insert((lo, hi));
                    *e = (e.0.min(lo), e.1.max(hi));
                }
            }
            for (value, into) in [
                (s.name, &mut out.name),
                (s.job_type, &mut out.job_type),
                (s.group, &mut out.group),
            ] {
                if !value.is_empty() {
                    *into = value;
                }
            }
            out.steps = out.steps.max(s.steps);
            if s.finished {
                out.finished = true;
                if s.exit_code.is_some() {
                    out.exit_code = s.exit_code;
                }
            }
        }
        if let Some(Value::Object(m)) = out.summary.remove(RUN_FIELDS_KEY) {
            out.tags = m.get("tags").and_then(Value::as_array).map(|a| {
                a.iter()
                    .filter_map(|t| t.as_str().map(str::to_string))
                    .collect()
            });
            out.notes = m.get("notes").and_then(Value::as_str).map(str::to_string);
        }
        out
    }
}

/// `[min, max]` of two finite numbers.
fn range_of(v: &Value) -> Option<[f64; 2]> {
    let a = v.as_array()?;
    match a.as_slice() {
        [lo, hi] => {
            let (lo, hi) = (lo.as_f64()?, hi.as_f64()?);
            (lo.is_finite() && hi.is_finite() && lo <= hi).then_some([lo, hi])
        }
        _ => None,
    }
}

/// Checks the JSON fields of a state record: config, summary and ranges must be JSON objects
/// (or empty), each range `[min, max]`. `Err` says which is wrong.
pub fn check_state(s: &RunStateRecord) -> std::result::Result<(), String> {
    for (what, text) in [
        ("config", &s.config),
        ("summary", &s.summary),
        ("ranges", &s.ranges),
    ] {
        if text.is_empty() {
            continue;
        }
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(m))
                if what != "ranges" || m.values().all(|v| range_of(v).is_some()) => {}
            _ => {
                return Err(format!(
                    "state record's {what} is not a JSON object of the right shape"
                ));
            }
        }
    }
    Ok(())
}

/// A key to compare runs by: a summary key, else a config key; a leading `-` negates it
/// (`--sort -reward`: highest reward first; `--best -loss`: the lowest loss).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Metric {
    /// The key.
    pub key: String,
    /// Whether lower values rank higher.
    pub negate: bool,
}

impl Metric {
    /// Parses `KEY` or `-KEY`.
    pub fn parse(text: &str) -> Result<Metric> {
        let (negate, key) = match text.strip_prefix('-') {
            Some(k) => (true, k),
            None => (false, text),
        };
        if key.is_empty() {
            return Err(Error::InvalidName {
                what: "summary key",
                value: text.to_string(),
                reason: "it is empty".into(),
            });
        }
        Ok(Metric {
            key: key.to_string(),
            negate,
        })
    }

    /// The run's value for this key as a number, negated if asked (None: no number).
    pub fn score(&self, run: &RunView) -> Option<f64> {
        let v = run.value(&self.key)?.as_f64()?;
        Some(if self.negate { -v } else { v })
    }
}

/// Sorts runs by `metric`, ascending (a negated key: its highest values first); runs without a
/// number for it keep their order after the others.
pub fn sort_runs(runs: &mut [RunView], metric: &Metric) {
    runs.sort_by(|a, b| match (metric.score(a), metric.score(b)) {
        (Some(x), Some(y)) => x.total_cmp(&y),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => std::cmp::Ordering::Equal,
    });
}

/// What the store knows of one run.
#[derive(Clone, Debug)]
pub struct RunView {
    /// Versions it used, in order.
    pub used: Vec<RunUse>,
    /// Run id.
    pub id: String,
    /// The run's description (the earliest, if several machines wrote one).
    pub info: Option<RunRecord>,
    /// What it logged, in commit order.
    pub artifacts: Vec<RunArtifact>,
    /// Records of this run not yet synced.
    pub incomplete: usize,
    /// Records marked for this run that are corrupt or are not records of this run (ignored;
    /// `fsck` says more).
    pub corrupt: usize,
    /// Config, summary and name, merged from the run's records.
    pub state: RunState,
}

impl Store {
    /// Records run `run` if the store has not seen it; returns the new record's id.
    pub(crate) fn write_run_if_new(
        &self,
        run: &RunRecord,
        publication: &mut Publication,
    ) -> Result<Option<ObjectId>> {
        validate_name("run id", &run.id)?;
        if refs::has_markers(&self.run_dir(&run.id))? {
            return Ok(None);
        }
        self.write_record(run, publication).map(Some)
    }

    /// Records a run that has started (as `codever.init()` does), unless the store knows it.
    pub fn start_run(&self, run: &RunRecord) -> Result<()> {
        let mut publication = Publication::default();
        if let Some(id) = self.write_run_if_new(run, &mut publication)? {
            publication.mark(self.run_dir(&run.id), id);
            self.publish(publication)?;
        }
        Ok(())
    }

    /// Records that run `run` used the version with tree `tree` of `key` (W&B's `use_artifact`).
    /// The run need not have logged anything.
    pub fn record_use(&self, run: &str, key: &ArtifactKey, tree: ObjectId) -> Result<()> {
        validate_name("run id", run)?;
        let record = UseRecord {
            run: run.to_string(),
            artifact_type: key.artifact_type.clone(),
            name: key.name.clone(),
            tree,
            time_ns: now_ns(),
        };
        let mut publication = Publication::default();
        let id = self.write_record(&record, &mut publication)?;
        publication.mark(self.run_dir(run), id);
        self.publish(publication)
    }

    /// Whether the store has seen run `id` (some record is marked for it).
    pub fn has_run(&self, id: &str) -> bool {
        validate_name("run id", id).is_ok() && refs::has_markers(&self.run_dir(id)).unwrap_or(false)
    }

    /// Records run `state.run`'s config, summary and name at this moment (Python's `finish`,
    /// and at exit): a new state record marked for the run, which the run's view merges with
    /// the others. The store's format is raised to 3 first (see `store::FORMAT`).
    pub fn save_run_state(&self, state: &RunStateRecord) -> Result<()> {
        validate_name("run id", &state.run)?;
        check_state(state).map_err(|reason| Error::InvalidName {
            what: "run state",
            value: state.run.clone(),
            reason,
        })?;
        let mut publication = Publication::default();
        let id = self.write_record(state, &mut publication)?;
        publication.mark(self.run_dir(&state.run), id);
        self.publish(publication)
    }

    /// The run with the highest (`worst`: lowest) score for `metric`, among the runs that have
    /// a number for it; ties go to the run that started first.
    pub fn pick_run(&self, metric: &Metric, worst: bool) -> Result<RunView> {
        let runs = self.runs()?;
        let mut best: Option<(f64, RunView)> = None;
        let mut known = std::collections::BTreeSet::new();
        for r in runs {
            for m in [&r.state.summary, &r.state.config] {
                known.extend(
                    m.iter()
                        .filter(|(_, v)| v.is_number())
                        .map(|(k, _)| k.clone()),
                );
            }
            let Some(score) = metric.score(&r) else {
                continue;
            };
            let better = match &best {
                None => true,
                Some((b, _)) if worst => score < *b,
                Some((b, _)) => score > *b,
            };
            if better {
                best = Some((score, r));
            }
        }
        best.map(|(_, r)| r).ok_or_else(|| Error::UnknownMetric {
            key: metric.key.clone(),
            known: known.into_iter().collect(),
        })
    }

    /// Every run, sorted by start time. Entries of `runs/` that are not a run's marker directory
    /// (`.DS_Store`, a sync tool's temp file) are ignored.
    pub fn runs(&self) -> Result<Vec<RunView>> {
        let mut cache = HashMap::new();
        let mut out = Vec::new();
        for id in refs::run_ids(&self.layout().runs_dir())? {
            out.push(self.run_view(&id, &mut cache)?);
        }
        out.sort_by_key(|r| (r.start_ns(), r.id.clone()));
        Ok(out)
    }

    /// One run.
    pub fn run(&self, id: &str) -> Result<RunView> {
        validate_name("run id", id)?;
        if !refs::has_markers(&self.run_dir(id))? {
            return Err(Error::UnknownRun { id: id.to_string() });
        }
        self.run_view(id, &mut HashMap::new())
    }

    fn run_view(&self, id: &str, cache: &mut HashMap<ArtifactKey, History>) -> Result<RunView> {
        let mut infos: Vec<RunRecord> = Vec::new();
        let mut uses: Vec<UseRecord> = Vec::new();
        let mut states: Vec<(ObjectId, RunStateRecord)> = Vec::new();
        let mut commits: Vec<(ObjectId, CommitRecord)> = Vec::new();
        let mut incomplete = 0;
        let mut corrupt = 0;
        for rid in refs::markers_in(self, &self.run_dir(id))? {
            // Corrupt records, and records of something else, are never served; fsck reports
            // them.
            match self.read_object(&rid) {
                Ok((Kind::Run, raw)) => match RunRecord::decode(rid, &raw) {
                    Ok(r) if r.id == id => infos.push(r),
                    _ => corrupt += 1,
                },
                Ok((Kind::Use, raw)) => match UseRecord::decode(rid, &raw) {
                    Ok(u) if u.run == id => uses.push(u),
                    _ => corrupt += 1,
                },
                Ok((Kind::State, raw)) => match RunStateRecord::decode(rid, &raw) {
                    Ok(st) if st.run == id && check_state(&st).is_ok() => states.push((rid, st)),
                    _ => corrupt += 1,
                },
                Ok((Kind::Commit, raw)) => match CommitRecord::decode(rid, &raw) {
                    Ok(c) if c.run == id => commits.push((rid, c)),
                    _ => corrupt += 1,
                },
                Ok(_) => corrupt += 1,
                Err(Error::MissingObject { .. }) => incomplete += 1,
                Err(_) => corrupt += 1,
            }
        }
        infos.sort_by_key(|r| r.time_ns);
        commits.sort_by_key(|(rid, c)| (c.time_ns, *rid));
        let mut artifacts = Vec::new();
        for (rid, c) in commits {
            let Ok(key) = ArtifactKey::new(&c.artifact_type, &c.name) else {
                continue;
            };
            // Not marked for its artifact (yet): an interrupted commit, or `refs/` not synced
            // yet. The artifact's marker is the commit point, so the run does not list it.
            if !self
                .artifact_dir(&key.artifact_type, &key.name)
                .join(rid.to_hex())
                .is_file()
            {
                continue;
            }
            if !cache.contains_key(&key) {
                let h = self.history(&key)?;
                cache.insert(key.clone(), h);
            }
            let h = &cache[&key];
            let version = h.by_tree(&c.tree);
            artifacts.push(RunArtifact {
                version: version.and_then(|v| v.number),
                complete: h.is_complete(),
                new: h.made_version(&rid),
                tree: c.tree,
                record: rid,
                time_ns: c.time_ns,
                message: c.message,
                forgotten: h.forgotten.is_some() || version.is_some_and(|v| v.forgotten.is_some()),
                // Under its name now, if it was renamed since.
                key: h.key.clone(),
            });
        }
        uses.sort_by_key(|u| u.time_ns);
        let mut used = Vec::new();
        for u in uses {
            let Ok(key) = ArtifactKey::new(&u.artifact_type, &u.name) else {
                continue;
            };
            if !cache.contains_key(&key) {
                let h = self.history(&key)?;
                cache.insert(key.clone(), h);
            }
            let h = &cache[&key];
            let version = h.by_tree(&u.tree);
            used.push(RunUse {
                forgotten: h.forgotten.is_some() || version.is_some_and(|v| v.forgotten.is_some()),
                version: version.and_then(|v| v.number),
                complete: h.is_complete(),
                tree: u.tree,
                time_ns: u.time_ns,
                key: h.key.clone(),
            });
        }
        let info = infos.into_iter().next();
        let state = RunState::merge(info.as_ref().map(|i| i.config.as_str()), states);
        Ok(RunView {
            used,
            id: id.to_string(),
            info,
            artifacts,
            incomplete,
            corrupt,
            state,
        })
    }
}

impl RunView {
    /// The value of `key`: the summary's, else the config's.
    pub fn value(&self, key: &str) -> Option<&Value> {
        self.state
            .summary
            .get(key)
            .or_else(|| self.state.config.get(key))
    }

    /// When the run started: its record's time, else its first commit's.
    pub fn start_ns(&self) -> i64 {
        self.info
            .as_ref()
            .map(|i| i.time_ns)
            .or_else(|| self.artifacts.first().map(|a| a.time_ns))
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(time_ns: i64, config: &str, summary: &str, ranges: &str) -> RunStateRecord {
        RunStateRecord {
            run: "r".into(),
            time_ns,
            host: "h".into(),
            name: String::new(),
            job_type: String::new(),
            group: String::new(),
            config: config.into(),
            summary: summary.into(),
            ranges: ranges.into(),
            steps: 0,
            finished: false,
            exit_code: None,
        }
    }

    fn id(b: u8) -> ObjectId {
        ObjectId::from_bytes([b; 32])
    }

    #[test]
    fn state_merges_newest_last_by_time_then_record_id() {
        let mut a = state(
            5,
            r#"{"lr":1}"#,
            r#"{"k":"a","only_a":1}"#,
            r#"{"m":[1,4]}"#,
        );
        a.name = "first".into();
        a.steps = 7;
        a.finished = true;
        a.exit_code = Some(2);
        let mut b = state(5, r#"{"lr":2}"#, r#"{"k":"b"}"#, r#"{"m":[0,3],"n":[5,5]}"#);
        b.job_type = "train".into();
        b.steps = 3;
        let mut c = state(9, "", r#"{"k":"c"}"#, "");
        c.finished = true; // no exit code: the older one stays
        let records = vec![(id(2), b.clone()), (id(1), a.clone()), (id(3), c.clone())];
        let merged = RunState::merge(Some(r#"{"lr":0,"seed":4}"#), records.clone());
        // Same time: the greater record id (b) is newer than a; c (later) is newest.
        let want = RunState {
            name: "first".into(),
            job_type: "train".into(),
            group: String::new(),
            config: serde_json::from_str(r#"{"lr":2,"seed":4}"#).unwrap(),
            summary: serde_json::from_str(r#"{"k":"c","only_a":1}"#).unwrap(),
            ranges: [("m".to_string(), (0.0, 4.0)), ("n".to_string(), (5.0, 5.0))].into(),
            steps: 7,
            finished: true,
            exit_code: Some(2),
            records: 3,
            ..RunState::default()
        };
        assert_eq!(merged, want);
        // The order the records are given in does not matter.
        for perm in [[2, 1, 0], [1, 0, 2], [0, 2, 1]] {
            let shuffled = perm.iter().map(|&i| records[i].clone()).collect();
            assert_eq!(
                RunState::merge(Some(r#"{"lr":0,"seed":4}"#), shuffled),
                want
            );
        }
        // A run record whose config is not a JSON object adds nothing.
        assert_eq!(RunState::merge(Some("[1]"), vec![]).config, Map::new());
    }

    #[test]
    fn tags_and_notes_edited_during_a_run_come_from_the_newest_state_record() {
        let old = state(
            1,
            "",
            r#"{"_codever":{"tags":["a"],"notes":"n1"},"k":1}"#,
            "",
        );
        let new = state(
            2,
            "",
            r#"{"_codever":{"tags":["a","best"],"notes":""}}"#,
            "",
        );
        let plain = state(3, "", r#"{"k":2}"#, "");
        for records in [
            vec![
                (id(1), old.clone()),
                (id(2), new.clone()),
                (id(3), plain.clone()),
            ],
            vec![
                (id(3), plain.clone()),
                (id(2), new.clone()),
                (id(1), old.clone()),
            ],
        ] {
            let m = RunState::merge(None, records);
            assert_eq!(m.tags, Some(vec!["a".to_string(), "best".to_string()]));
            assert_eq!(m.notes.as_deref(), Some(""));
            // Taken out of the summary, which keeps its own keys.
            assert_eq!(
                m.summary,
                serde_json::from_str::<Map<_, _>>(r#"{"k":2}"#).unwrap()
            );
        }
        // Without the key: none (the run record's are shown).
        let m = RunState::merge(None, vec![(id(3), plain)]);
        assert_eq!((m.tags, m.notes), (None, None));
    }

    #[test]
    fn ranges_and_state_fields_are_checked() {
        assert_eq!(range_of(&serde_json::json!([1, 2.5])), Some([1.0, 2.5]));
        for bad in [
            serde_json::json!([2, 1]),
            serde_json::json!([1]),
            serde_json::json!([1, 2, 3]),
            serde_json::json!(["a", 1]),
            serde_json::json!({"min": 1}),
        ] {
            assert_eq!(range_of(&bad), None, "{bad}");
        }
        assert_eq!(check_state(&state(1, "", "", "")), Ok(()));
        assert_eq!(check_state(&state(1, "{}", "{}", r#"{"a":[1,2]}"#)), Ok(()));
        for (s, what) in [
            (state(1, "[]", "", ""), "config"),
            (state(1, "", "1", ""), "summary"),
            (state(1, "", "", r#"{"a":[2,1]}"#), "ranges"),
            (state(1, "", "", "not json"), "ranges"),
        ] {
            assert_eq!(
                check_state(&s),
                Err(format!(
                    "state record's {what} is not a JSON object of the right shape"
                ))
            );
        }
    }

    fn view(id: &str, summary: &str, config: &str) -> RunView {
        RunView {
            used: Vec::new(),
            id: id.into(),
            info: None,
            artifacts: Vec::new(),
            incomplete: 0,
            corrupt: 0,
            state: RunState {
                summary: serde_json::from_str(summary).unwrap(),
                config: serde_json::from_str(config).unwrap(),
                ..RunState::default()
            },
        }
    }

    #[test]
    fn metrics_read_the_summary_then_the_config_and_negate() {
        let m = Metric::parse("-loss").unwrap();
        assert_eq!((m.key.as_str(), m.negate), ("loss", true));
        assert!(matches!(Metric::parse("-"), Err(Error::InvalidName { .. })));
        assert!(matches!(Metric::parse(""), Err(Error::InvalidName { .. })));
        let r = view("a", r#"{"loss":0.5,"s":"x"}"#, r#"{"loss":9,"lr":0.1}"#);
        assert_eq!(m.score(&r), Some(-0.5));
        assert_eq!(Metric::parse("lr").unwrap().score(&r), Some(0.1));
        assert_eq!(Metric::parse("s").unwrap().score(&r), None);
        assert_eq!(Metric::parse("nope").unwrap().score(&r), None);
        let mut runs = vec![
            view("none", "{}", "{}"),
            view("high", r#"{"r":3}"#, "{}"),
            view("text", r#"{"r":"x"}"#, "{}"),
            view("low", r#"{"r":1}"#, "{}"),
            view("mid", r#"{"r":2}"#, "{}"),
        ];
        sort_runs(&mut runs, &Metric::parse("-r").unwrap());
        let ids: Vec<&str> = runs.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["high", "mid", "low", "none", "text"]);
        sort_runs(&mut runs, &Metric::parse("r").unwrap());
        let ids: Vec<&str> = runs.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["low", "mid", "high", "none", "text"]);
    }
}
