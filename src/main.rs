//! The `codever` command: parses arguments, calls the library, prints, sets the exit code.
//!
//! Exit codes: 0 success; 1 fsck found corruption (or, with `--strict`, unlinked records or
//! missing objects); 2 any error (the message names what was wrong and a hint says what to do).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use codever::RepairAction;
use codever::diff::DiffOptions;
use codever::{
    ArtifactKey, CommitOptions, Error, History, Result, RunCapture, RunView, Snapshot, Spec, Store,
    Version, flatten, new_run_id, render,
};
use serde_json::{Value, json};

#[derive(Parser)]
#[command(
    name = "codever",
    version,
    about = "Version the code of machine-learning runs",
    long_about = "Version the code of machine-learning runs.\n\nEach run logs its code as artifacts \
                  (a type and a name holding files). Unchanged content links the run to the \
                  existing version; changed content makes the next version."
)]
struct Cli {
    /// The store directory (a `.codever` directory, or a project directory holding one).
    /// Default: $CODEVER_DIR, else the nearest `.codever` above the working directory.
    #[arg(long, global = true, value_name = "PATH")]
    store: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create a store in DIR/.codever (DIR defaults to the working directory).
    Init {
        /// The project directory.
        dir: Option<PathBuf>,
    },
    /// Log files as a version of an artifact for a run.
    Commit {
        /// Artifact name (`[A-Za-z0-9_.-]`, 1-128 characters).
        name: String,
        /// Artifact type, e.g. `rl_algo_code`.
        #[arg(long = "type", short = 't', value_name = "TYPE")]
        artifact_type: String,
        /// Files or directories, as PATH or PATH=DISPLAY. A file is stored under its basename
        /// unless DISPLAY is given; a directory's files keep paths relative to it (under
        /// DISPLAY/ if given), honouring .gitignore.
        #[arg(required = true, value_name = "SOURCE")]
        sources: Vec<String>,
        /// Run id; default $CODEVER_RUN_ID, else a fresh id.
        #[arg(long)]
        run: Option<String>,
        /// Commit message.
        #[arg(long, short = 'm', default_value = "")]
        message: String,
        /// Point this alias at the committed version (repeatable).
        #[arg(long = "alias", value_name = "ALIAS")]
        aliases: Vec<String>,
        /// Only files of directory sources matching this glob (repeatable).
        #[arg(long = "include", value_name = "GLOB")]
        include: Vec<String>,
        /// Skip files of directory sources matching this glob (repeatable).
        #[arg(long = "exclude", value_name = "GLOB")]
        exclude: Vec<String>,
    },
    /// List artifacts.
    List {
        /// Only artifacts of this type.
        #[arg(long = "type", short = 't', value_name = "TYPE")]
        artifact_type: Option<String>,
    },
    /// List the versions of an artifact, oldest first.
    Versions {
        /// `[TYPE/]NAME` (a version suffix is ignored).
        spec: String,
    },
    /// Show one version and its files.
    Show {
        /// `[TYPE/]NAME[:vN|:latest|:ALIAS|@IDPREFIX]`.
        spec: String,
    },
    /// Print a file of a version (raw bytes).
    Cat {
        /// `[TYPE/]NAME[:vN|:latest|:ALIAS|@IDPREFIX]`.
        spec: String,
        /// The file's display path.
        path: String,
    },
    /// List runs, or show one.
    Runs {
        #[command(subcommand)]
        command: Option<RunsCommand>,
    },
    /// Write the files of a version into a directory.
    Checkout {
        /// `[TYPE/]NAME[:vN|:latest|:ALIAS|@IDPREFIX]`.
        spec: String,
        /// Target directory (created if needed).
        #[arg(long, value_name = "DIR")]
        into: PathBuf,
        /// Overwrite files that differ.
        #[arg(long)]
        force: bool,
    },
    /// Point an alias at a version.
    Alias {
        /// `[TYPE/]NAME[:vN|:latest|:ALIAS|@IDPREFIX]`.
        spec: String,
        /// The alias (not `latest`, not `vN`).
        alias: String,
    },
    /// Compare two versions, a version with the files on disk, or two runs (--runs).
    ///
    /// The patch is git's format: `codever diff A B | git apply` on a checkout of A gives B.
    Diff {
        /// A version spec (or a run id with --runs).
        left: String,
        /// A version spec (or a run id with --runs). Without it, LEFT is compared with the files
        /// on disk it was committed from.
        right: Option<String>,
        /// Compare the artifacts logged by two runs, matched by type and name.
        #[arg(long, requires = "right")]
        runs: bool,
        /// Lines of context.
        #[arg(short = 'U', long = "unified", value_name = "N", default_value_t = 3)]
        context: usize,
        /// Show a summary of changed files with +/- bars instead of the patch.
        #[arg(long)]
        stat: bool,
        /// Show only the status letter and path of each changed file.
        #[arg(long)]
        name_status: bool,
        /// Exit 1 when there are differences, 0 when there are none.
        #[arg(long)]
        exit_code: bool,
        /// Colour: auto (only on a terminal, unless NO_COLOR is set), always, never.
        #[arg(long, value_enum, default_value_t = ColorWhen::Auto, value_name = "WHEN")]
        color: ColorWhen,
        /// Write binary files in git's binary patch format (applies with `git apply`).
        #[arg(long)]
        binary: bool,
        /// Minimum similarity (percent) for a deleted and an added file to count as a rename.
        #[arg(long, short = 'M', value_name = "PERCENT", default_value_t = 50,
              value_parser = clap::value_parser!(u8).range(0..=100))]
        find_renames: u8,
        /// Detect only exact renames.
        #[arg(long)]
        no_renames: bool,
    },
    /// List versions newest first with their runs and changes; with PATH, only the versions
    /// where that file changed (following renames).
    Log {
        /// `[TYPE/]NAME` (all versions) or `[TYPE/]NAME:vN` (from vN back).
        spec: String,
        /// A file's display path.
        path: Option<String>,
        /// Show the changed files of each version with +/- bars.
        #[arg(long)]
        stat: bool,
    },
    /// Show each line of a file with the version and run that introduced it.
    Blame {
        /// `[TYPE/]NAME[:vN|:latest|:ALIAS|@IDPREFIX]`.
        spec: String,
        /// The file's display path.
        path: String,
    },
    /// Verify every object and reference of the store.
    Fsck {
        /// Also fail (exit 1) when objects are missing (not yet synced).
        #[arg(long)]
        strict: bool,
        /// Make the safe repairs: add missing markers, remove temp files and packs without an
        /// index older than an hour.
        #[arg(long)]
        repair: bool,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ColorWhen {
    Auto,
    Always,
    Never,
}

impl ColorWhen {
    fn enabled(self) -> bool {
        use std::io::IsTerminal;
        match self {
            ColorWhen::Always => true,
            ColorWhen::Never => false,
            ColorWhen::Auto => {
                std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                    && std::io::stdout().is_terminal()
            }
        }
    }
}

#[derive(Subcommand)]
enum RunsCommand {
    /// Show what one run logged.
    Show {
        /// The run id.
        id: String,
    },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version go to stdout: a failed write is an error like any other.
            return match e.print() {
                Err(w) if !e.use_stderr() && w.kind() != std::io::ErrorKind::BrokenPipe => {
                    report(&stdout_error(w))
                }
                _ => ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2)),
            };
        }
    };
    let result = run(cli);
    let written = output::finish();
    match (result, written) {
        (Err(e), _) => report(&e),
        (Ok(_), Err(w)) => report(&stdout_error(w)),
        (Ok(code), Ok(())) => ExitCode::from(code),
    }
}

/// Prints an error and its hint on stderr; exit code 2.
fn report(e: &Error) -> ExitCode {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "error: {e}");
    if let Some(h) = e.hint() {
        let _ = writeln!(err, "hint: {h}");
    }
    ExitCode::from(2)
}

fn stdout_error(source: std::io::Error) -> Error {
    Error::Io {
        action: "cannot write to",
        path: PathBuf::from("standard output"),
        source,
    }
}

/// Standard output: locked, buffered, and every write checked, the final flush included.
///
/// The first write error is kept, later output is dropped, and `main` reports the error when the
/// command ends (exit 2): a full disk or `> /dev/full` never passes for success with truncated
/// output. A closed pipe (`codever log | head -1`) is not an error: the rest of the output is
/// dropped quietly and the command keeps its own exit code.
mod output {
    use std::cell::RefCell;
    use std::io::{self, BufWriter, StdoutLock, Write};

    #[derive(Default)]
    struct Output {
        w: Option<BufWriter<StdoutLock<'static>>>,
        error: Option<io::Error>,
        closed: bool,
    }

    impl Output {
        fn note(&mut self, e: io::Error) {
            if e.kind() == io::ErrorKind::BrokenPipe {
                self.closed = true;
            } else if self.error.is_none() {
                self.error = Some(e);
            }
        }
    }

    thread_local! {
        static OUTPUT: RefCell<Output> = RefCell::new(Output::default());
    }

    /// Writes `bytes` to stdout (see the module documentation for errors).
    pub fn write(bytes: &[u8]) {
        OUTPUT.with_borrow_mut(|o| {
            if o.closed || o.error.is_some() {
                return;
            }
            let w =
                o.w.get_or_insert_with(|| BufWriter::with_capacity(1 << 16, io::stdout().lock()));
            if let Err(e) = w.write_all(bytes) {
                o.note(e);
            }
        });
    }

    /// Flushes stdout; the first write error other than a closed pipe, if any.
    pub fn finish() -> io::Result<()> {
        OUTPUT.with_borrow_mut(|o| {
            if !o.closed
                && o.error.is_none()
                && let Some(w) = o.w.as_mut()
                && let Err(e) = w.flush()
            {
                o.note(e);
            }
            match o.error.take() {
                Some(e) => Err(e),
                None => Ok(()),
            }
        })
    }

    /// [`write`] as an [`io::Write`], for serializers that stream.
    pub struct Stdout;

    impl Write for Stdout {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            write(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
}

fn cwd() -> Result<PathBuf> {
    std::env::current_dir().map_err(|e| Error::Io {
        action: "cannot read the working directory",
        path: PathBuf::from("."),
        source: e,
    })
}

fn open_store(cli_store: Option<&Path>) -> Result<Store> {
    Store::locate(cli_store, &cwd()?)
}

/// Prints text on stdout (checked; see [`output`]).
fn out(text: &str) {
    output::write(text.as_bytes());
}

fn print_json(v: &Value) {
    out(&format!("{v:#}\n"));
}

fn run(cli: Cli) -> Result<u8> {
    let json = cli.json;
    let store_arg = cli.store.as_deref();
    match cli.command {
        Command::Init { dir } => {
            let store = match (store_arg, dir) {
                (Some(s), _) => Store::init_at(s)?,
                (None, Some(d)) => Store::init(&d)?,
                (None, None) => Store::init(&cwd()?)?,
            };
            if json {
                print_json(&json!({ "store": store.root() }));
            } else {
                out(&format!(
                    "initialized codever store in {}\n",
                    store.root().display()
                ));
            }
        }
        Command::Commit {
            name,
            artifact_type,
            sources,
            run,
            message,
            aliases,
            include,
            exclude,
        } => {
            let key = ArtifactKey::new(&artifact_type, &name)?;
            let store = open_store(store_arg)?;
            let run_id = match run.or_else(|| std::env::var("CODEVER_RUN_ID").ok()) {
                Some(r) if !r.is_empty() => r,
                _ => new_run_id(),
            };
            // git is asked for HEAD and the dirty flag while the sources are walked.
            let capture = RunCapture::start(&run_id, &cwd()?, !store.has_run(&run_id))?;
            let mut snapshot = Snapshot::new(codever::Filter::new(&include, &exclude)?);
            for s in &sources {
                snapshot.add_source_arg(s)?;
            }
            let run = capture.finish();
            let bar = progress_bar();
            let opts = CommitOptions {
                message,
                aliases,
                progress: bar.as_ref().map(|(_, p)| p.clone()),
                ..CommitOptions::default()
            };
            let result = store.commit(&key, &snapshot, &run, &opts);
            if let Some((b, _)) = bar {
                b.finish_and_clear();
            }
            let o = result?;
            if o.version.is_none() {
                let _ = writeln!(
                    std::io::stderr().lock(),
                    "warning: some records of {} cannot be read, so its version numbers are withheld; `codever fsck` says more",
                    o.key
                );
            }
            let number = o.version.map_or("v?".to_string(), |n| format!("v{n}"));
            if json {
                print_json(&json!({
                    "type": o.key.artifact_type,
                    "name": o.key.name,
                    "version": o.version,
                    "id": o.tree.to_hex(),
                    "new": o.new,
                    "run": o.run,
                    "digest": o.digest.to_hex(),
                }));
            } else if o.new {
                out(&format!(
                    "{}:{number} (new)  id {}  run {}  {} file(s)\n",
                    o.key.name,
                    o.tree.short(),
                    o.run,
                    o.files
                ));
            } else {
                out(&format!(
                    "{}:{number} (unchanged)  id {}  run {}  linked to the existing version, nothing new stored\n",
                    o.key.name,
                    o.tree.short(),
                    o.run
                ));
            }
        }
        Command::List { artifact_type } => {
            let store = open_store(store_arg)?;
            if let Some(t) = &artifact_type {
                codever::names::validate_name("type", t)?;
            }
            let mut rows = Vec::new();
            for key in store.artifacts()? {
                if artifact_type
                    .as_ref()
                    .is_some_and(|f| f != &key.artifact_type)
                {
                    continue;
                }
                rows.push(store.history(&key)?);
            }
            if json {
                print_json(&Value::Array(
                    rows.iter()
                        .map(|h| {
                            json!({
                                "type": h.key.artifact_type,
                                "name": h.key.name,
                                "versions": h.versions.len(),
                                "latest": h.latest,
                                "complete": h.is_complete(),
                                "problems": problems_json(h),
                            })
                        })
                        .collect(),
                ));
            } else {
                let mut s = String::new();
                for h in &rows {
                    let latest = match h.latest() {
                        _ if !h.is_complete() => "?".to_string(),
                        Some(v) => vnum(v),
                        None => "-".to_string(),
                    };
                    s.push_str(&format!(
                        "{:<40} {:>3} version(s)  latest {latest}",
                        h.key.to_string(),
                        h.versions.len()
                    ));
                    if !h.is_complete() {
                        s.push_str(&format!(
                            "  INCOMPLETE ({}): numbers withheld",
                            problems_summary(h)
                        ));
                    }
                    s.push('\n');
                }
                if rows.is_empty() {
                    s.push_str(
                        "no artifacts yet; log one with `codever commit NAME --type TYPE FILE…`\n",
                    );
                }
                out(&s);
            }
        }
        Command::Versions { spec } => {
            let store = open_store(store_arg)?;
            let spec = Spec::parse(&spec)?;
            let key = store.resolve_key(spec.artifact_type.as_deref(), &spec.name)?;
            let h = store.history(&key)?;
            if json {
                warn_incomplete(&h);
                // Streamed from typed rows: a 10,000-version list is not built as a Value tree.
                let problems = problems_json(&h);
                let rows: Vec<VersionRow> = h
                    .versions
                    .iter()
                    .map(|v| version_row(&h, v, &problems))
                    .collect();
                serde_json::to_writer_pretty(output::Stdout, &rows)
                    .map_err(|e| stdout_error(e.into()))?;
                out("\n");
            } else {
                out(&versions_text(&store, &h));
            }
            // The process ends right after: freeing every record of a long history one by one
            // would only delay the exit.
            std::mem::forget(h);
        }
        Command::Show { spec } => {
            let store = open_store(store_arg)?;
            let (h, i) = store.resolve(&Spec::parse(&spec)?)?;
            let v = &h.versions[i];
            let files = flatten(&store, &v.tree)?;
            if json {
                warn_incomplete(&h);
                let mut obj = version_json(&h, v);
                obj["type"] = json!(h.key.artifact_type);
                obj["name"] = json!(h.key.name);
                obj["files"] = Value::Array(
                    files
                        .iter()
                        .map(|codever::ManifestEntry { path: p, meta: m }| {
                            json!({
                                "path": p,
                                "size": m.size,
                                "md5": m.md5.to_base64(),
                                "blake3": m.id.to_hex(),
                                "executable": m.executable,
                            })
                        })
                        .collect(),
                );
                print_json(&obj);
            } else {
                let mut s = format!("{}:{}  id {}\n", h.key, vnum(v), v.tree.to_hex());
                if !h.is_complete() {
                    s.push_str(&format!(
                        "INCOMPLETE  {}: number, latest and aliases withheld; `codever fsck` says more\n",
                        problems_summary(&h)
                    ));
                }
                s.push_str(&format!(
                    "digest   {}\ncreated  {}\nruns     {}\n",
                    v.digest.to_hex(),
                    fmt_time(v.created_ns()),
                    v.runs().join(", "),
                ));
                let aliases = aliases_of(&h, v);
                if !aliases.is_empty() {
                    s.push_str(&format!("aliases  {}\n", aliases.join(", ")));
                }
                if !v.first().record.message.is_empty() {
                    s.push_str(&format!("message  {}\n", v.first().record.message));
                }
                s.push_str(&format!("files    {}\n", files.len()));
                for codever::ManifestEntry { path: p, meta: m } in &files {
                    let x = if m.executable { "x" } else { " " };
                    s.push_str(&format!("  {:>10} {x} {p}\n", m.size));
                }
                out(&s);
            }
        }
        Command::Cat { spec, path } => {
            let store = open_store(store_arg)?;
            let (h, i) = store.resolve(&Spec::parse(&spec)?)?;
            warn_incomplete(&h);
            let v = &h.versions[i];
            let wanted = codever::names::normalize_path(&path)?;
            let files = flatten(&store, &v.tree)?;
            let meta = &files
                .iter()
                .find(|e| e.path == wanted)
                .ok_or_else(|| {
                    Error::no_such_file(h.key.to_string(), v.number, v.tree, wanted.clone())
                })?
                .meta;
            // Streamed for large files: memory stays bounded whatever the size.
            store.write_blob_to(&meta.id, meta.size, &mut output::Stdout)?;
        }
        Command::Runs { command } => {
            let store = open_store(store_arg)?;
            match command {
                None => {
                    let runs = store.runs()?;
                    if json {
                        print_json(&Value::Array(runs.iter().map(run_json).collect()));
                    } else {
                        let mut s = String::new();
                        for r in &runs {
                            s.push_str(&format!(
                                "{:<10} {}  {}\n",
                                r.id,
                                fmt_time(r.start_ns()),
                                run_artifacts_text(r)
                            ));
                        }
                        if runs.is_empty() {
                            s.push_str("no runs yet\n");
                        }
                        s.push_str(&incomplete_artifacts_text(&runs, ""));
                        out(&s);
                    }
                }
                Some(RunsCommand::Show { id }) => {
                    let r = store.run(&id)?;
                    if json {
                        print_json(&run_json(&r));
                    } else {
                        out(&run_text(&r));
                    }
                }
            }
        }
        Command::Checkout { spec, into, force } => {
            let store = open_store(store_arg)?;
            let (h, i) = store.resolve(&Spec::parse(&spec)?)?;
            warn_incomplete(&h);
            let v = &h.versions[i];
            let report = store.checkout(&v.tree, &into, force)?;
            if json {
                print_json(&json!({
                    "type": h.key.artifact_type,
                    "name": h.key.name,
                    "version": v.number,
                    "id": v.tree.to_hex(),
                    "into": into,
                    "written": report.written,
                    "unchanged": report.unchanged,
                }));
            } else {
                out(&format!(
                    "checked out {} into {}: {} file(s) written, {} already up to date\n",
                    version_name(&h, v),
                    into.display(),
                    report.written.len(),
                    report.unchanged.len()
                ));
            }
        }
        Command::Alias { spec, alias } => {
            let store = open_store(store_arg)?;
            let (h, i) = store.set_alias(&Spec::parse(&spec)?, &alias)?;
            warn_incomplete(&h);
            let v = &h.versions[i];
            if json {
                print_json(&json!({
                    "type": h.key.artifact_type,
                    "name": h.key.name,
                    "alias": alias,
                    "version": v.number,
                    "id": v.tree.to_hex(),
                }));
            } else {
                let target = match v.number {
                    Some(n) => format!("v{n}"),
                    None => format!("@{}", v.tree.short()),
                };
                out(&format!("{}:{alias} -> {target}\n", h.key));
            }
        }
        Command::Diff {
            left,
            right,
            runs,
            context,
            stat,
            name_status,
            exit_code,
            color,
            binary,
            find_renames,
            no_renames,
        } => {
            let store = open_store(store_arg)?;
            let opts = DiffOptions {
                context,
                rename_threshold: (!no_renames).then_some(find_renames),
                binary,
                names_only: name_status,
                ..DiffOptions::default()
            };
            let mut header = String::new();
            let mut header_json = Value::Null;
            let diff = if runs {
                let right = right.unwrap_or_default();
                let rd = store.diff_runs(&left, &right, &opts)?;
                header_json = runs_header_json(&rd);
                header = runs_header_text(&rd, &left, &right);
                rd.diff
            } else {
                let (lh, li) = store.resolve(&Spec::parse(&left)?)?;
                match right {
                    Some(r) => {
                        let (rh, ri) = store.resolve(&Spec::parse(&r)?)?;
                        warn_incomplete(&lh);
                        if rh.key != lh.key {
                            warn_incomplete(&rh);
                        }
                        store.diff_versions(lh.versions[li].tree, rh.versions[ri].tree, &opts)?
                    }
                    None => {
                        warn_incomplete(&lh);
                        store.diff_worktree(&lh, li, &opts)?
                    }
                }
            };
            if json {
                let mut v = render::diff_json(&diff);
                if !header_json.is_null() {
                    v["artifacts"] = header_json;
                }
                print_json(&v);
            } else if name_status {
                out(&format!("{header}{}", render::name_status(&diff)));
            } else if stat {
                out(&format!("{header}{}", render::stat(&diff)));
            } else {
                out(&header);
                output::write(&render::patch(&diff, color.enabled()));
            }
            return Ok(u8::from(exit_code && !diff.is_empty()));
        }
        Command::Log { spec, path, stat } => {
            let store = open_store(store_arg)?;
            let parsed = Spec::parse(&spec)?;
            let explicit = spec.contains([':', '@']);
            // A bare name lists every version (a listing: it works, numbers withheld, on an
            // incomplete artifact); a spec starts at its version.
            let (h, upto) = if explicit {
                store.resolve(&parsed)?
            } else {
                let key = store.resolve_key(parsed.artifact_type.as_deref(), &parsed.name)?;
                let h = store.history(&key)?;
                let Some(last) = h.versions.len().checked_sub(1) else {
                    return Err(Error::NoVersions {
                        artifact: key.to_string(),
                    });
                };
                (h, last)
            };
            let entries = store.log(&h, upto, path.as_deref(), &DiffOptions::default())?;
            if json {
                warn_incomplete(&h);
                print_json(&Value::Array(
                    entries
                        .iter()
                        .map(|e| {
                            let mut v = version_json(&h, &h.versions[e.version]);
                            v["changes"] = Value::Array(
                                e.diff.files.iter().map(change_summary_json).collect(),
                            );
                            v
                        })
                        .collect(),
                ));
            } else {
                out(&log_text(&h, &entries, stat));
            }
        }
        Command::Blame { spec, path } => {
            let store = open_store(store_arg)?;
            let (h, i) = store.resolve(&Spec::parse(&spec)?)?;
            warn_incomplete(&h);
            let lines = store.blame(&h, i, &path)?;
            let run_of = |v: usize| h.versions[v].first().record.run.clone();
            if json {
                print_json(&json!({
                    "type": h.key.artifact_type,
                    "name": h.key.name,
                    "version": h.versions[i].number,
                    "id": h.versions[i].tree.to_hex(),
                    "path": codever::names::normalize_path(&path)?,
                    "lines": lines.iter().map(|l| json!({
                        "line": l.line,
                        "version": h.versions[l.version].number,
                        "id": h.versions[l.version].tree.to_hex(),
                        "run": run_of(l.version),
                        "text": String::from_utf8_lossy(l.text.strip_suffix(b"\n").unwrap_or(&l.text)),
                    })).collect::<Vec<_>>(),
                }));
            } else {
                // A line's version is its number, or its short id while numbers are withheld.
                let label = |v: usize| match h.versions[v].number {
                    Some(n) => format!("v{n}"),
                    None => h.versions[v].tree.short(),
                };
                let vw = lines
                    .iter()
                    .map(|l| label(l.version).len())
                    .max()
                    .unwrap_or(0);
                let rw = lines
                    .iter()
                    .map(|l| run_of(l.version).len())
                    .max()
                    .unwrap_or(0);
                let nw = lines.len().to_string().len();
                let mut o = Vec::new();
                for l in &lines {
                    let v = label(l.version);
                    o.extend_from_slice(
                        format!("{v:<vw$} {:<rw$} {:>nw$}) ", run_of(l.version), l.line).as_bytes(),
                    );
                    o.extend_from_slice(l.text.strip_suffix(b"\n").unwrap_or(&l.text));
                    o.push(b'\n');
                }
                output::write(&o);
            }
        }
        Command::Fsck { strict, repair } => {
            let store = open_store(store_arg)?;
            let r = store.fsck_with(&codever::FsckOptions {
                repair,
                ..Default::default()
            })?;
            let failed = r.failed(strict);
            if json {
                print_json(&json!({
                    "objects": r.objects,
                    "markers": r.markers,
                    "corrupt": r.corrupt.iter().map(|c| json!({"path": c.path, "reason": c.reason})).collect::<Vec<_>>(),
                    "missing": r.missing.iter().map(|m| json!({"id": m.id.to_hex(), "needed_by": m.needed_by})).collect::<Vec<_>>(),
                    "unlinked": r.unlinked.iter().map(|u| json!({"record": u.record.to_hex(), "marker": u.marker, "missing_marker": u.missing_marker})).collect::<Vec<_>>(),
                    "interrupted": r.interrupted.iter().map(|u| json!({"record": u.record.to_hex(), "marker": u.marker, "missing_marker": u.missing_marker})).collect::<Vec<_>>(),
                    "stray": r.stray,
                    "repaired": r.repaired.iter().map(|p| json!({"action": p.action.as_str(), "path": p.path})).collect::<Vec<_>>(),
                    "ok": !failed,
                }));
            } else {
                let mut s = format!("checked {} object(s), {} marker(s)\n", r.objects, r.markers);
                for c in &r.corrupt {
                    s.push_str(&format!("corrupt: {}: {}\n", c.path.display(), c.reason));
                }
                for m in &r.missing {
                    s.push_str(&format!(
                        "missing (not yet synced): {} needed by {}\n",
                        m.id, m.needed_by
                    ));
                }
                for u in &r.unlinked {
                    s.push_str(&format!(
                        "unlinked: {} has no marker {}\n",
                        u.marker.display(),
                        u.missing_marker.display()
                    ));
                }
                for u in &r.interrupted {
                    s.push_str(&format!(
                        "interrupted commit (invisible): {} has no marker {}\n",
                        u.marker.display(),
                        u.missing_marker.display()
                    ));
                }
                for p in &r.stray {
                    s.push_str(&format!("stray file (ignored): {}\n", p.display()));
                }
                for p in &r.repaired {
                    let what = match p.action {
                        RepairAction::AddedMarker => "added marker",
                        RepairAction::RemovedTempFile => "removed temp file",
                        RepairAction::RemovedPack => "removed pack without index",
                    };
                    s.push_str(&format!("repaired: {what} {}\n", p.path.display()));
                }
                if !r.failed(true) {
                    s.push_str("ok\n");
                }
                out(&s);
                if !r.unlinked.is_empty() && !repair {
                    eprintln!("hint: `codever fsck --repair` adds the missing markers");
                }
            }
            return Ok(u8::from(failed));
        }
    }
    Ok(0)
}

/// A progress bar for long captures: drawn on stderr, only on a terminal, and only once a
/// capture has taken more than a second (short commits print nothing extra).
fn progress_bar() -> Option<(indicatif::ProgressBar, codever::Progress)> {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::hidden();
    bar.set_style(
        indicatif::ProgressStyle::with_template("capturing {bar:30} {pos}/{len} files {elapsed}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let start = std::time::Instant::now();
    let shown = std::sync::atomic::AtomicBool::new(false);
    let b = bar.clone();
    let report = codever::Progress(std::sync::Arc::new(move |done, total| {
        if !shown.load(std::sync::atomic::Ordering::Relaxed)
            && start.elapsed() > std::time::Duration::from_secs(1)
        {
            shown.store(true, std::sync::atomic::Ordering::Relaxed);
            b.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        }
        b.set_length(total as u64);
        b.set_position(done as u64);
    }));
    Some((bar, report))
}

/// On stderr, when some records of the artifact cannot be read: numbers are withheld.
fn warn_incomplete(h: &History) {
    if !h.is_complete() {
        let _ = writeln!(
            std::io::stderr().lock(),
            "warning: {} is incomplete ({}): version numbers, `latest` and aliases are withheld; `codever fsck` says more",
            h.key,
            problems_summary(h)
        );
    }
}

/// `1 record not yet synced, 2 unreadable records`.
fn problems_summary(h: &History) -> String {
    let plural = |n: usize, what: &str| {
        if n == 1 {
            format!("1 {what}")
        } else {
            format!("{n} {what}s")
        }
    };
    let mut parts = Vec::new();
    if !h.incomplete.is_empty() {
        parts.push(format!(
            "{} not yet synced",
            plural(h.incomplete.len(), "record")
        ));
    }
    if !h.invalid.is_empty() {
        parts.push(plural(h.invalid.len(), "unreadable record"));
    }
    parts.join(", ")
}

/// The records of an artifact that cannot be read: `[{"id", "missing", "reason"}]`.
fn problems_json(h: &History) -> Value {
    Value::Array(
        h.problems()
            .iter()
            .map(|p| json!({"id": p.id.to_hex(), "missing": p.missing, "reason": p.reason}))
            .collect(),
    )
}

/// `v2`, or `v?` while the number is withheld.
fn vnum(v: &Version) -> String {
    v.number.map_or("v?".to_string(), |n| format!("v{n}"))
}

/// How a version is named in messages: `TYPE/NAME:v2`, or `TYPE/NAME@<short id>` while its
/// number is withheld.
fn version_name(h: &History, v: &Version) -> String {
    match v.number {
        Some(n) => format!("{}:v{n}", h.key),
        None => format!("{}@{}", h.key, v.tree.short()),
    }
}

fn aliases_of(h: &History, v: &Version) -> Vec<String> {
    let mut a = Vec::new();
    if h.latest == Some(v.index) {
        a.push("latest".to_string());
    }
    a.extend(v.aliases.iter().cloned());
    a
}

/// One row of `versions --json` (the same keys as [`version_json`]).
#[derive(serde::Serialize)]
struct VersionRow<'a> {
    version: Option<usize>,
    id: String,
    digest: String,
    created: String,
    runs: Vec<&'a str>,
    aliases: Vec<String>,
    files: u64,
    message: &'a str,
    complete: bool,
    problems: &'a Value,
}

fn version_row<'a>(h: &History, v: &'a Version, problems: &'a Value) -> VersionRow<'a> {
    VersionRow {
        version: v.number,
        id: v.tree.to_hex(),
        digest: v.digest.to_hex(),
        created: fmt_time_json(v.created_ns()),
        runs: v.runs(),
        aliases: aliases_of(h, v),
        files: v.first().record.files,
        message: &v.first().record.message,
        complete: h.is_complete(),
        problems,
    }
}

/// `  [latest, best]` after a version in listings, or nothing.
fn aliases_suffix(h: &History, v: &Version) -> String {
    let aliases = aliases_of(h, v);
    if aliases.is_empty() {
        String::new()
    } else {
        format!("  [{}]", aliases.join(", "))
    }
}

fn version_json(h: &History, v: &Version) -> Value {
    json!({
        "version": v.number,
        "id": v.tree.to_hex(),
        "digest": v.digest.to_hex(),
        "created": fmt_time_json(v.created_ns()),
        "runs": v.runs(),
        "aliases": aliases_of(h, v),
        "files": v.first().record.files,
        "message": v.first().record.message,
        "complete": h.is_complete(),
        "problems": problems_json(h),
    })
}

/// The line listings print under an incomplete artifact's name.
fn incomplete_line(h: &History) -> String {
    format!(
        "INCOMPLETE: {}; version numbers, `latest` and aliases are withheld (v?); name a version by id, as {}@ID; `codever fsck` says more\n",
        problems_summary(h),
        h.key
    )
}

fn versions_text(store: &Store, h: &History) -> String {
    let mut s = String::with_capacity(64 + h.versions.len() * 96);
    s.push_str(&format!("{}\n", h.key));
    if !h.is_complete() {
        s.push_str(&incomplete_line(h));
    }
    for (v, changes) in h.versions.iter().zip(store.version_changes(h)) {
        let changes = match changes {
            None => "(not yet synced)".to_string(),
            Some(c) => {
                let mut parts = Vec::new();
                if c.added > 0 {
                    parts.push(format!("+{}", c.added));
                }
                if c.modified > 0 {
                    parts.push(format!("~{}", c.modified));
                }
                if c.deleted > 0 {
                    parts.push(format!("-{}", c.deleted));
                }
                if parts.is_empty() {
                    "=".to_string()
                } else {
                    parts.join(" ")
                }
            }
        };
        let aliases = aliases_suffix(h, v);
        s.push_str(&format!(
            "{:<5} {}  {}  {:<12} runs {}{aliases}\n",
            vnum(v),
            v.tree.short(),
            fmt_time(v.created_ns()),
            changes,
            v.runs().join(", "),
        ));
    }
    s
}

fn runs_header_json(rd: &codever::compare::RunsDiff) -> Value {
    let side = |s: &Option<(Option<usize>, codever::ObjectId)>| {
        s.map(|(v, id)| json!({"version": v, "id": id.to_hex()}))
    };
    Value::Array(
        rd.artifacts
            .iter()
            .map(|a| {
                json!({
                    "type": a.key.artifact_type,
                    "name": a.key.name,
                    "left": side(&a.left),
                    "right": side(&a.right),
                })
            })
            .collect(),
    )
}

fn runs_header_text(rd: &codever::compare::RunsDiff, left: &str, right: &str) -> String {
    let ver = |v: Option<usize>| v.map(|n| format!("v{n}")).unwrap_or("v?".into());
    let mut s = String::new();
    for a in &rd.artifacts {
        let line = match (a.left, a.right) {
            (Some((lv, lt)), Some((_, rt))) if lt == rt => format!("{}: {} (same)", a.key, ver(lv)),
            (Some((lv, _)), Some((rv, _))) => format!("{}: {} -> {}", a.key, ver(lv), ver(rv)),
            (Some((lv, _)), None) => format!("{}:{} only in run {left}", a.key, ver(lv)),
            (None, Some((rv, _))) => format!("{}:{} only in run {right}", a.key, ver(rv)),
            (None, None) => continue,
        };
        s.push_str(&format!("# {line}\n"));
    }
    s
}

fn change_summary_json(f: &codever::diff::FileDiff) -> Value {
    json!({
        "status": f.status,
        "old_path": f.old_path,
        "new_path": f.new_path,
        "similarity": f.similarity,
        "binary": f.binary,
        "additions": f.additions,
        "deletions": f.deletions,
    })
}

fn log_text(h: &History, entries: &[codever::compare::LogEntry], stat: bool) -> String {
    let mut s = String::new();
    if !h.is_complete() {
        s.push_str(&incomplete_line(h));
    }
    for e in entries {
        let v = &h.versions[e.version];
        let aliases = aliases_suffix(h, v);
        s.push_str(&format!(
            "{}  {}  {}  runs {}{aliases}\n",
            vnum(v),
            v.tree.short(),
            fmt_time(v.created_ns()),
            v.runs().join(", ")
        ));
        let msg = &v.first().record.message;
        if !msg.is_empty() {
            s.push_str(&format!("    {msg}\n"));
        }
        if stat {
            for line in render::stat(&e.diff).lines() {
                s.push_str(&format!("   {line}\n"));
            }
        } else {
            for f in &e.diff.files {
                let what = match f.status {
                    codever::diff::Status::Renamed => format!(
                        "R {} ({}%)",
                        render::rename_display(
                            f.old_path.as_deref().unwrap_or_default(),
                            f.new_path.as_deref().unwrap_or_default()
                        ),
                        f.similarity.unwrap_or(0)
                    ),
                    st => format!("{} {}", st.letter(), f.path()),
                };
                let counts = if f.binary {
                    " (binary)".to_string()
                } else if f.additions + f.deletions > 0 {
                    format!(" (+{} -{})", f.additions, f.deletions)
                } else {
                    String::new()
                };
                s.push_str(&format!("    {what}{counts}\n"));
            }
        }
        s.push('\n');
    }
    s
}

fn run_json(r: &RunView) -> Value {
    let info = r.info.as_ref();
    json!({
        "id": r.id,
        "time": fmt_time_json(r.start_ns()),
        "host": info.map(|i| i.host.clone()),
        "user": info.map(|i| i.user.clone()),
        "cwd": info.map(|i| i.cwd.clone()),
        "git_commit": info.and_then(|i| i.git_commit.clone()),
        "git_dirty": info.and_then(|i| i.git_dirty),
        "project": info.map(|i| i.project.clone()).filter(|p| !p.is_empty()),
        "config": info
            .filter(|i| !i.config.is_empty())
            .and_then(|i| serde_json::from_str::<Value>(&i.config).ok()),
        "notes": info.map(|i| i.notes.clone()).filter(|n| !n.is_empty()),
        "tags": info.map(|i| i.tags.clone()).unwrap_or_default(),
        "complete": r.incomplete == 0 && r.corrupt == 0,
        "used": r.used.iter().map(|u| json!({
            "type": u.key.artifact_type,
            "name": u.key.name,
            "version": u.version,
            "id": u.tree.to_hex(),
            "complete": u.complete,
        })).collect::<Vec<_>>(),
        "artifacts": r.artifacts.iter().map(|a| json!({
            "type": a.key.artifact_type,
            "name": a.key.name,
            "version": a.version,
            "id": a.tree.to_hex(),
            "new": a.new,
            "complete": a.complete,
        })).collect::<Vec<_>>(),
    })
}

fn run_artifacts_text(r: &RunView) -> String {
    r.artifacts
        .iter()
        .map(|a| {
            let v = a.version.map(|n| format!("v{n}")).unwrap_or("v?".into());
            let state = if a.new { "new" } else { "unchanged" };
            format!("{}:{v} ({state})", a.key)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn run_text(r: &RunView) -> String {
    let mut s = format!("run      {}\nstarted  {}\n", r.id, fmt_time(r.start_ns()));
    if let Some(i) = &r.info {
        s.push_str(&format!(
            "host     {}\nuser     {}\ncwd      {}\n",
            i.host, i.user, i.cwd
        ));
        if let Some(c) = &i.git_commit {
            let dirty = if i.git_dirty == Some(true) {
                " (dirty)"
            } else {
                ""
            };
            s.push_str(&format!("git      {c}{dirty}\n"));
        }
    }
    for a in &r.artifacts {
        let v = a.version.map(|n| format!("v{n}")).unwrap_or("v?".into());
        let state = if a.new { "new" } else { "unchanged" };
        s.push_str(&format!("  {}:{v}  {}  ({state})\n", a.key, a.tree.short()));
    }
    for u in &r.used {
        let v = u.version.map(|n| format!("v{n}")).unwrap_or("v?".into());
        s.push_str(&format!("  used {}:{v}  {}\n", u.key, u.tree.short()));
    }
    if r.incomplete > 0 {
        s.push_str(&format!("  … {} record(s) not yet synced\n", r.incomplete));
    }
    if r.corrupt > 0 {
        s.push_str(&format!(
            "  … {} unreadable record(s) ignored; `codever fsck` says more\n",
            r.corrupt
        ));
    }
    s.push_str(&incomplete_artifacts_text(std::slice::from_ref(r), "  "));
    s
}

/// One `INCOMPLETE` line for each artifact of these runs whose numbers are withheld.
fn incomplete_artifacts_text(runs: &[RunView], indent: &str) -> String {
    let mut keys: Vec<&ArtifactKey> = runs
        .iter()
        .flat_map(|r| {
            let logged = r.artifacts.iter().map(|a| (&a.key, a.complete));
            logged.chain(r.used.iter().map(|u| (&u.key, u.complete)))
        })
        .filter(|(_, complete)| !complete)
        .map(|(k, _)| k)
        .collect();
    keys.sort();
    keys.dedup();
    keys.iter()
        .map(|k| {
            format!(
                "{indent}INCOMPLETE {k}: some of its records cannot be read, numbers withheld (v?); `codever fsck` says more\n"
            )
        })
        .collect()
}

fn timestamp(ns: i64) -> jiff::Timestamp {
    jiff::Timestamp::from_nanosecond(i128::from(ns)).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
}

fn fmt_time(ns: i64) -> String {
    timestamp(ns).strftime("%Y-%m-%d %H:%M:%S").to_string()
}

fn fmt_time_json(ns: i64) -> String {
    timestamp(ns).to_string()
}
