//! `codever show SPEC`: one version and its files.

use codever::{History, ManifestEntry, Result, Spec, Version, flatten, view};

use super::Global;
use crate::output::{fmt_time, out, print_json, problems_summary, warn_incomplete};

#[derive(clap::Args)]
pub struct Args {
    /// `[TYPE/]NAME[:vN|:latest|:ALIAS|@IDPREFIX]`.
    spec: String,
}

pub fn run(global: &Global, args: Args) -> Result<u8> {
    let store = global.open_store_fetching()?;
    let spec = Spec::parse(&args.spec)?;
    let codever::Resolved {
        history: h,
        index: i,
    } = store.resolve(&spec)?;
    let v = &h.versions[i];
    super::notes(&spec, &h, Some(v));
    let files = flatten(&store, &v.tree)?;
    if global.json {
        warn_incomplete(&h);
        let rows = files.iter().map(|e| view::FileRow::new(&e.path, &e.meta));
        print_json(&view::VersionShow::new(&h, v, rows.collect()))?;
    } else {
        out(&text(&h, v, &files));
    }
    Ok(0)
}

fn text(h: &History, v: &Version, files: &[ManifestEntry]) -> String {
    let mut s = format!(
        "{}:{}  id {}\n",
        h.key,
        view::number(v.number),
        v.tree.to_hex()
    );
    if !h.is_complete() {
        s.push_str(&format!(
            "INCOMPLETE  {}: number, latest and aliases withheld; `codever fsck` says more\n",
            problems_summary(h)
        ));
    }
    if let Some(f) = v.forgotten.as_ref().or(h.forgotten.as_ref()) {
        let what = if v.forgotten.is_some() {
            "this version"
        } else {
            "the whole artifact"
        };
        s.push_str(&format!(
            "FORGOTTEN {what}, at {} on {}: hidden from listings and short specs\n",
            fmt_time(f.time_ns),
            f.host
        ));
    }
    s.push_str(&format!(
        "digest   {}\ncreated  {}\nruns     {}\n",
        v.digest.to_hex(),
        fmt_time(v.created_ns()),
        v.runs().join(", "),
    ));
    let aliases = view::aliases(h, v);
    if !aliases.is_empty() {
        s.push_str(&format!("aliases  {}\n", aliases.join(", ")));
    }
    // Every commit's message: the first one's as it is, later ones (runs that linked to the
    // version) after their run id.
    let messages = v.commits.iter().enumerate().filter_map(|(i, c)| {
        let m = &c.record.message;
        (!m.is_empty()).then(|| match i {
            0 => m.clone(),
            _ => format!("{}: {m}", c.record.run),
        })
    });
    for (i, m) in messages.enumerate() {
        let label = if i == 0 { "message" } else { "" };
        s.push_str(&format!("{label:<9}{m}\n"));
    }
    let record = &v.first().record;
    for source in &record.sources {
        s.push_str(&format!(
            "source   {}\n",
            view::SourceRow::new(source).text()
        ));
    }
    for (label, globs) in [("include", &record.include), ("exclude", &record.exclude)] {
        if !globs.is_empty() {
            s.push_str(&format!("{label}  {}\n", globs.join(" ")));
        }
    }
    s.push_str(&format!("files    {}\n", files.len()));
    for ManifestEntry { path: p, meta: m } in files {
        let x = if m.executable { "x" } else { " " };
        s.push_str(&format!("  {:>10} {x} {p}\n", m.size));
    }
    s
}
