//! The library's error type: every failure a user can cause or meet, with the facts needed to
//! explain it and a hint saying what to do.
//!
//! Hints speak of operations, never of one front-end's spelling of them: "check out with
//! force", not "pass --force". Where a hint asks for an option of the operation,
//! [`Error::remedy`] says which [`Remedy`], and each front-end words it in its own terms (the
//! CLI's `--force`, Python's `force=True`).

use std::fmt;
use std::path::PathBuf;

use crate::id::ObjectId;

/// Result alias used throughout the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in codever, with structured fields.
///
/// `Display` gives the one-line message; [`Error::hint`] says what to do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No store was found walking up from `start`.
    #[error("no codever store found in {} or any parent directory", start.display())]
    NoStore {
        /// Where the search started.
        start: PathBuf,
    },
    /// A path named as a store is not one.
    #[error("{} is not a codever store ({reason})", path.display())]
    NotAStore {
        /// The directory given.
        path: PathBuf,
        /// What is missing or wrong.
        reason: String,
    },
    /// The store was written by a newer codever.
    #[error(
        "store {} has format {found}, but this codever reads format {supported} at most",
        path.display()
    )]
    NewerFormat {
        /// The store directory.
        path: PathBuf,
        /// The format number found in the store.
        found: u32,
        /// The newest format this build understands.
        supported: u32,
    },
    /// `init` on a directory that already holds a store.
    #[error("a codever store already exists at {}", path.display())]
    AlreadyExists {
        /// The existing store directory.
        path: PathBuf,
    },
    /// An artifact name, type, alias or run id is malformed.
    #[error("invalid {what} {value:?}: {reason}")]
    InvalidName {
        /// Which kind of name ("artifact name", "type", "alias", "run id").
        what: &'static str,
        /// The rejected value.
        value: String,
        /// Why it was rejected.
        reason: String,
    },
    /// A display path is malformed or unsafe.
    #[error("invalid path {path:?}: {reason}")]
    InvalidPath {
        /// The rejected path.
        path: String,
        /// Why it was rejected.
        reason: String,
    },
    /// A source given to commit does not exist.
    #[error("source not found: {path}")]
    SourceNotFound {
        /// The source as the user wrote it.
        path: String,
    },
    /// A source is neither a regular file nor a directory.
    #[error("source {} is not a regular file or directory", path.display())]
    UnsupportedSource {
        /// The source path.
        path: PathBuf,
    },
    /// A source file kept changing while it was being read, so no consistent copy was taken.
    #[error("{} changed while it was being read ({tries} tries); nothing was committed", path.display())]
    SourceChanged {
        /// The file.
        path: PathBuf,
        /// How many times it was read.
        tries: u32,
    },
    /// A record or tree larger than readers accept (a huge message, metadata or config).
    #[error("the {what} would be {size} bytes, more than the {limit} a {what} may have")]
    TooLarge {
        /// The kind of object.
        what: &'static str,
        /// Its encoded size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// A file that blame cannot show line by line.
    #[error("cannot blame {path:?}: {reason} at v{version}{}", match reason {
        NotTextReason::Large { limit, .. } => format!("; blame reads files under {limit} bytes"),
        NotTextReason::Binary => String::new(),
    })]
    NotText {
        /// The file.
        path: String,
        /// The version where it is not text.
        version: u64,
        /// Why.
        reason: NotTextReason,
    },
    /// A snapshot larger than one version may hold.
    #[error("{entries} files and directories are more than the {limit} one version may hold")]
    TooManyEntries {
        /// Files and directories in the snapshot.
        entries: u64,
        /// The limit (`tree::MAX_ENTRIES`).
        limit: u64,
    },
    /// Two sources map to the same display path.
    #[error("two sources map to the display path {path:?}: {first} and {second}")]
    DuplicatePath {
        /// The contested display path.
        path: String,
        /// The first source.
        first: String,
        /// The second source.
        second: String,
    },
    /// A display path is used both as a file and as a directory.
    #[error("display path {path:?} is a file, but {child:?} needs it to be a directory")]
    PathConflict {
        /// The file path.
        path: String,
        /// A path below it.
        child: String,
    },
    /// An include or exclude glob does not parse.
    #[error("invalid glob {glob:?}: {reason}")]
    InvalidGlob {
        /// The glob.
        glob: String,
        /// The parser's complaint.
        reason: String,
    },
    /// A transfer stopped by SIGINT or SIGTERM (see `signals::stop_transfers_on_interrupt`).
    #[error("interrupted: what was sent or received before is kept, nothing half-done is visible")]
    Interrupted,
    /// A filesystem operation failed.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done ("cannot read", "cannot write", …).
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A version spec does not parse.
    #[error("invalid version spec {spec:?}: {reason}")]
    InvalidSpec {
        /// The spec.
        spec: String,
        /// Why it does not parse.
        reason: String,
    },
    /// No artifact has that name (and type).
    #[error("unknown artifact {artifact:?}")]
    UnknownArtifact {
        /// `NAME` or `TYPE/NAME`.
        artifact: String,
        /// Artifacts of the store with a name close to it (a typo), best first, spelled as the
        /// request was (`NAME` or `TYPE/NAME`).
        suggestions: Vec<String>,
    },
    /// A bare name exists under several types.
    #[error("artifact name {name:?} exists under several types: {}", candidates.join(", "))]
    AmbiguousName {
        /// The name.
        name: String,
        /// `TYPE/NAME` for each candidate.
        candidates: Vec<String>,
    },
    /// `:vN` beyond the last version.
    #[error("{artifact} has no version v{requested} (it has v0..v{last})")]
    VersionOutOfRange {
        /// `TYPE/NAME`.
        artifact: String,
        /// The requested number.
        requested: u64,
        /// The last version number.
        last: usize,
    },
    /// The artifact exists but none of its versions is readable yet.
    #[error("{artifact} has no complete version in this store yet")]
    NoVersions {
        /// `TYPE/NAME`.
        artifact: String,
    },
    /// A version none of whose commit records can be read, where one is needed (comparing a
    /// version with the files on disk reads the sources its commit recorded).
    #[error("{artifact}@{} has no readable commit record in this store yet", id.short())]
    NoCommit {
        /// `TYPE/NAME`.
        artifact: String,
        /// The version id.
        id: ObjectId,
    },
    /// An alias that was never set.
    #[error("{artifact} has no alias {alias:?}")]
    UnknownAlias {
        /// `TYPE/NAME`.
        artifact: String,
        /// The alias.
        alias: String,
        /// The aliases that exist.
        known: Vec<String>,
        /// What was probably meant: `vN` for an alias `N` or `VN` naming an existing version,
        /// else the known aliases close to it.
        suggestions: Vec<String>,
    },
    /// An alias that would shadow a version selector.
    #[error("alias {alias:?} is reserved: `latest` and `vN` already name versions")]
    ReservedAlias {
        /// The alias asked for.
        alias: String,
    },
    /// No version id starts with the prefix.
    #[error(
        "no version of {artifact} has an id starting with {prefix}{}",
        if *unreadable > 0 { format!(" among its readable records ({unreadable} cannot be read)") } else { String::new() }
    )]
    UnknownIdPrefix {
        /// `TYPE/NAME`.
        artifact: String,
        /// The prefix.
        prefix: String,
        /// How many records of the artifact cannot be read (the version may be in one of them).
        unreadable: usize,
    },
    /// Several version ids start with the prefix.
    #[error("id prefix {prefix} of {artifact} is ambiguous: {}", candidates.join(", "))]
    AmbiguousIdPrefix {
        /// `TYPE/NAME`.
        artifact: String,
        /// The prefix.
        prefix: String,
        /// `vN@id` for each match.
        candidates: Vec<String>,
    },
    /// An object referenced by the store is not present (yet).
    #[error("object {id} is not yet synced (missing from this store)")]
    MissingObject {
        /// The missing object.
        id: ObjectId,
    },
    /// An object failed verification.
    #[error("object {id} is corrupt: {reason}")]
    CorruptObject {
        /// The object id (its file name).
        id: ObjectId,
        /// What is wrong with it.
        reason: String,
    },
    /// A version number, `latest` or an alias was asked of an artifact some of whose records
    /// cannot be read: numbering depends on every record, so the answer could be another version.
    /// Versions named by id (`NAME@IDPREFIX`) are still served.
    #[error(
        "refusing {artifact}:{requested}: {} of {artifact} cannot be read ({}), so its version numbers, `latest` and aliases could name the wrong version",
        count_records(problems),
        problem_list(problems)
    )]
    IncompleteArtifact {
        /// `TYPE/NAME`.
        artifact: String,
        /// What was asked: `v2`, `latest` or an alias.
        requested: String,
        /// The records that cannot be read, and why.
        problems: Vec<RecordProblem>,
    },
    /// A version named by number, alias or `latest` is forgotten: short specs skip forgotten
    /// versions (its id still names it).
    #[error("{artifact}:{requested} is forgotten (id {})", id.short())]
    ForgottenVersion {
        /// `TYPE/NAME`.
        artifact: String,
        /// What was asked: `v2` or an alias.
        requested: String,
        /// The version id.
        id: ObjectId,
    },
    /// `latest` of an artifact every version of which is forgotten.
    #[error("every version of {artifact} is forgotten, so it has no `latest`")]
    AllVersionsForgotten {
        /// `TYPE/NAME`.
        artifact: String,
    },
    /// A bare name whose only artifacts are forgotten (short specs skip forgotten artifacts).
    #[error("{}artifact {name:?} is forgotten ({})",
        if *versions_only { "every version of " } else { "" },
        artifacts.join(", "))]
    ForgottenArtifact {
        /// The name asked for.
        name: String,
        /// `TYPE/NAME` of each forgotten artifact of that name.
        artifacts: Vec<String>,
        /// True when no artifact of that name is forgotten as a whole: each has had every
        /// version forgotten one by one.
        versions_only: bool,
    },
    /// A name an artifact had before it was renamed.
    #[error("{old} was renamed to {new}")]
    Renamed {
        /// The old `TYPE/NAME`.
        old: String,
        /// What it is called now.
        new: String,
    },
    /// `forget` (or `unforget`) of a bare name without saying it means the whole artifact.
    #[error("{spec:?} names no version")]
    VersionNotNamed {
        /// The spec as given.
        spec: String,
        /// The operation: `forget` or `unforget`.
        operation: &'static str,
    },
    /// A rename onto a name that already holds an artifact.
    #[error("cannot rename {old} to {new}: {new} already exists ({versions} version(s))")]
    RenameTargetExists {
        /// `TYPE/NAME` renamed.
        old: String,
        /// `TYPE/NAME` asked for.
        new: String,
        /// How many versions the existing artifact has.
        versions: usize,
    },
    /// A rename onto a former name of another artifact (its records still count there).
    #[error("cannot rename {old} to {new}: {new} is a former name of {current}")]
    RenameTargetIsFormerName {
        /// `TYPE/NAME` renamed.
        old: String,
        /// `TYPE/NAME` asked for.
        new: String,
        /// The artifact now known under another name that `new` was.
        current: String,
    },
    /// A rename to the name the artifact already has.
    #[error("{name} is already called {name}")]
    RenameToItself {
        /// `TYPE/NAME`.
        name: String,
    },
    /// A file path not in the version.
    #[error("{artifact}:v{version} has no file {path:?}")]
    NoSuchFile {
        /// `TYPE/NAME`.
        artifact: String,
        /// The version number.
        version: usize,
        /// The requested path.
        path: String,
    },
    /// A file path not in a version whose number is withheld (its artifact is incomplete).
    #[error("{artifact}@{} has no file {path:?}", id.short())]
    NoSuchFileById {
        /// `TYPE/NAME`.
        artifact: String,
        /// The version id.
        id: ObjectId,
        /// The requested path.
        path: String,
    },
    /// A run id never seen in this store.
    #[error("unknown run {id:?}")]
    UnknownRun {
        /// The run id.
        id: String,
    },
    /// No run has a number under that summary or config key.
    #[error("no run has a number for {key:?} in its summary or config")]
    UnknownMetric {
        /// The key asked for.
        key: String,
        /// Summary and config keys with numbers that some run has, sorted.
        known: Vec<String>,
    },
    /// A comparison of runs was given more or fewer than two runs.
    #[error("comparing runs needs two runs, {given} given")]
    TwoRunsNeeded {
        /// How many runs were named or picked.
        given: usize,
    },
    /// A version was asked for with a type that is not its artifact's.
    #[error("artifact {artifact} has type {found:?}, not {expected:?}")]
    TypeMismatch {
        /// The artifact found, `TYPE/NAME`.
        artifact: String,
        /// Its type.
        found: String,
        /// The type asked for.
        expected: String,
    },
    /// Checkout would have to write through a symlink, a non-directory or outside its target.
    #[error("refusing to write {}: {reason}", path.display())]
    UnsafeCheckout {
        /// The offending path.
        path: PathBuf,
        /// What is in the way.
        reason: Obstacle,
    },
    /// A file changed between hashing and reading it.
    #[error("{} changed while it was being read", path.display())]
    ChangedWhileReading {
        /// The file.
        path: PathBuf,
    },
    /// A rename while some rename record cannot be read: which names are free, or former names,
    /// is unknown until it can.
    #[error(
        "cannot rename {old} to {new} while {} cannot be read ({}): the names it moves are unknown",
        count_records(problems),
        problem_list(problems)
    )]
    RenamesUnreadable {
        /// `TYPE/NAME` to rename.
        old: String,
        /// The new `TYPE/NAME`.
        new: String,
        /// The rename records that cannot be read, and why.
        problems: Vec<RecordProblem>,
    },
    /// A Python interpreter could not report its environment (`commit-env`).
    #[error("cannot read the environment of {python}: {reason}")]
    EnvCapture {
        /// The interpreter as given.
        python: String,
        /// What went wrong.
        reason: String,
    },
    /// Checkout would overwrite files whose content differs.
    #[error("checkout would overwrite {} modified file(s) in {}: {}", paths.len(), dir.display(), preview(paths))]
    WouldOverwrite {
        /// The target directory.
        dir: PathBuf,
        /// Display paths of the files that differ.
        paths: Vec<String>,
    },
    /// A remote could not be used (unreachable, credentials refused, no such bucket, not a
    /// store). The reason never holds credentials.
    #[error("remote {remote} ({url}): {failure}{}", if detail.is_empty() { String::new() } else { format!(" ({detail})") })]
    Remote {
        /// The remote's name.
        remote: String,
        /// Its URL.
        url: String,
        /// What went wrong.
        failure: RemoteFailure,
        /// The server's or the system's words, credentials removed.
        detail: String,
    },
    /// No remote of that name.
    #[error("unknown remote {name:?}")]
    UnknownRemote {
        /// The name given.
        name: String,
        /// The remotes there are.
        known: Vec<String>,
    },
    /// No remote named and no default remote set.
    #[error("no remote given, and this store has no default remote")]
    NoDefaultRemote {
        /// The remotes there are.
        known: Vec<String>,
    },
    /// A remote of that name exists already.
    #[error("remote {name:?} already exists ({url})")]
    RemoteExists {
        /// The name.
        name: String,
        /// Its URL.
        url: String,
    },
    /// A remote URL codever cannot use.
    #[error("invalid remote URL {url:?}: {reason}")]
    InvalidRemoteUrl {
        /// The URL given.
        url: String,
        /// Why.
        reason: String,
    },
}

/// Why a remote could not be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RemoteFailure {
    /// No connection could be made, or it timed out after the retries.
    Unreachable,
    /// The credentials were refused.
    Credentials,
    /// No credentials were given (environment, profile, web identity or container role), and
    /// none came from an instance role.
    NoCredentials,
    /// The bucket does not exist.
    NoBucket,
    /// The remote holds something that is not a codever store.
    NotAStore,
    /// The remote's store format is newer than this build reads.
    NewerFormat,
    /// It served an object whose bytes are damaged or forged (this store is intact).
    Damaged,
    /// It holds a key its client cannot list (a `..`, `.` or empty segment, a control
    /// character): no file of codever's, but it stops every listing until deleted.
    BadKey,
    /// Anything else the server or the file system said.
    Failed,
}

impl fmt::Display for RemoteFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RemoteFailure::Unreachable => "cannot reach the endpoint",
            RemoteFailure::Credentials => "the credentials were refused",
            RemoteFailure::NoCredentials => "no credentials were found",
            RemoteFailure::NoBucket => "the bucket does not exist",
            RemoteFailure::NotAStore => "it is not a codever store",
            RemoteFailure::NewerFormat => "its store format is newer than this codever reads",
            RemoteFailure::Damaged => "its copy is damaged",
            RemoteFailure::BadKey => "it holds a key that cannot be listed",
            RemoteFailure::Failed => "the request failed",
        })
    }
}

/// Why blame cannot show a file line by line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotTextReason {
    /// The content is binary.
    Binary,
    /// The file is too large for blame to hold two versions of it.
    Large {
        /// Its size in bytes.
        size: u64,
        /// Blame reads files under this many bytes.
        limit: u64,
    },
}

impl fmt::Display for NotTextReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotTextReason::Binary => write!(f, "binary"),
            NotTextReason::Large { size, .. } => write!(f, "{size} bytes"),
        }
    }
}

/// What is in the way of a checkout that never writes through links or over directories.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Obstacle {
    /// A symbolic link where a directory must go.
    Symlink,
    /// A file (or anything not a directory) where a directory must go.
    FileForDirectory,
    /// A directory where a file must go.
    DirectoryForFile,
    /// The target is the store or inside it.
    InsideStore,
    /// The target is a `.git` directory or inside one.
    InsideGit,
    /// The target was replaced (by another directory or a link) while it was being opened.
    Replaced,
}

impl fmt::Display for Obstacle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Obstacle::Symlink => "it is a symlink, and checkout never writes through one",
            Obstacle::FileForDirectory => "a file is where a directory must go",
            Obstacle::DirectoryForFile => "a directory is where a file must go",
            Obstacle::InsideStore => "it is inside the store, which holds only codever's own files",
            Obstacle::InsideGit => {
                "it is inside a .git directory, which holds only git's own files"
            }
            Obstacle::Replaced => {
                "it was replaced by another directory or a link while it was opened"
            }
        })
    }
}

/// A record marked for an artifact (or a run) that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordProblem {
    /// The record's id (the name of its marker).
    pub id: ObjectId,
    /// True when the record has not arrived yet (not yet synced); false when it is present but
    /// corrupt, undecodable or the record of something else.
    pub missing: bool,
    /// What is wrong with it.
    pub reason: String,
}

impl RecordProblem {
    /// Describes why the record `id` could not be read, from the error reading it gave.
    pub fn from_error(id: ObjectId, e: &Error) -> RecordProblem {
        let (missing, reason) = match e {
            Error::MissingObject { .. } => (true, "not yet synced".to_string()),
            Error::CorruptObject { reason, .. } => (false, format!("corrupt: {reason}")),
            other => (false, other.to_string()),
        };
        RecordProblem {
            id,
            missing,
            reason,
        }
    }
}

fn count_records(problems: &[RecordProblem]) -> String {
    match problems.len() {
        1 => "1 record".to_string(),
        n => format!("{n} records"),
    }
}

/// `did you mean `a`? ` (or `a` or `b`), or nothing when there is no suggestion.
fn did_you_mean(suggestions: &[String]) -> String {
    match suggestions {
        [] => String::new(),
        [one] => format!("did you mean `{one}`? "),
        many => {
            let quoted: Vec<String> = many.iter().map(|s| format!("`{s}`")).collect();
            format!("did you mean {}? ", quoted.join(" or "))
        }
    }
}

/// The candidates close to `wanted` (a typo: one or two edits, a swap of neighbours counting
/// as one, and at most a third of its characters), closest first, at most three.
pub(crate) fn close_to<'a>(
    wanted: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Vec<String> {
    let limit = (wanted.chars().count() / 3).clamp(1, 2);
    let mut close: Vec<(usize, &str)> = candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(wanted, c), c))
        .filter(|(d, _)| *d <= limit)
        .collect();
    close.sort();
    close.dedup();
    close
        .into_iter()
        .take(3)
        .map(|(_, c)| c.to_string())
        .collect()
}

fn problem_list(problems: &[RecordProblem]) -> String {
    let mut s = problems
        .iter()
        .take(3)
        .map(|p| format!("{} {}", p.id.short(), p.reason))
        .collect::<Vec<_>>()
        .join("; ");
    if problems.len() > 3 {
        s.push_str(&format!("; … ({} more)", problems.len() - 3));
    }
    s
}

/// What a hint asks for when it needs an option of the operation. Front-ends name options their
/// own way, so each words these hints itself ([`Remedy::hint`] is the library's wording).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Remedy {
    /// Overwrite the files that differ (checkout's force option), or choose another target.
    Force,
    /// No store was found: create one, or say where one is.
    NameStore,
    /// The store named is not one: name a store directory instead.
    PointAtStore,
    /// A source is not there: check it, or store a file under a display path of one's choosing.
    DisplayPath,
    /// Two sources want one display path: give one of them another.
    OtherDisplayPath,
}

impl Remedy {
    /// The hint in the library's words, naming the operation rather than a flag.
    pub fn hint(self) -> &'static str {
        match self {
            Remedy::Force => "check out with force to overwrite them, or into another directory",
            Remedy::NameStore => {
                "create a store in your project (init), or give the path of one / set CODEVER_DIR"
            }
            Remedy::PointAtStore => {
                "give the path of a `.codever` directory made by init, or set CODEVER_DIR to one"
            }
            Remedy::DisplayPath => {
                "check the path; give a display path to store a file under another name"
            }
            Remedy::OtherDisplayPath => "give one of the sources another display path",
        }
    }
}

fn preview(paths: &[String]) -> String {
    let mut s = paths.iter().take(3).cloned().collect::<Vec<_>>().join(", ");
    if paths.len() > 3 {
        s.push_str(&format!(", … ({} more)", paths.len() - 3));
    }
    s
}

impl Error {
    /// A stable machine name for what went wrong (`unknown_artifact`, `corrupt_object`, …): the
    /// `"kind"` of an error printed as JSON, for scripts to branch on instead of the message.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::NoStore { .. } => "no_store",
            Error::NotAStore { .. } => "not_a_store",
            Error::NewerFormat { .. } => "newer_format",
            Error::AlreadyExists { .. } => "already_exists",
            Error::InvalidName { .. } => "invalid_name",
            Error::InvalidPath { .. } => "invalid_path",
            Error::SourceNotFound { .. } => "source_not_found",
            Error::UnsupportedSource { .. } => "unsupported_source",
            Error::SourceChanged { .. } => "source_changed",
            Error::TooLarge { .. } => "too_large",
            Error::NotText { .. } => "not_text",
            Error::TooManyEntries { .. } => "too_many_entries",
            Error::DuplicatePath { .. } => "duplicate_path",
            Error::PathConflict { .. } => "path_conflict",
            Error::InvalidGlob { .. } => "invalid_glob",
            Error::Io { .. } => "io",
            Error::Interrupted => "interrupted",
            Error::InvalidSpec { .. } => "invalid_spec",
            Error::UnknownArtifact { .. } => "unknown_artifact",
            Error::AmbiguousName { .. } => "ambiguous_name",
            Error::VersionOutOfRange { .. } => "version_out_of_range",
            Error::NoVersions { .. } => "no_versions",
            Error::NoCommit { .. } => "no_commit",
            Error::UnknownAlias { .. } => "unknown_alias",
            Error::ReservedAlias { .. } => "reserved_alias",
            Error::UnknownIdPrefix { .. } => "unknown_id_prefix",
            Error::AmbiguousIdPrefix { .. } => "ambiguous_id_prefix",
            Error::MissingObject { .. } => "missing_object",
            Error::CorruptObject { .. } => "corrupt_object",
            Error::IncompleteArtifact { .. } => "incomplete_artifact",
            Error::ForgottenVersion { .. } => "forgotten_version",
            Error::AllVersionsForgotten { .. } => "all_versions_forgotten",
            Error::ForgottenArtifact { .. } => "forgotten_artifact",
            Error::Renamed { .. } => "renamed",
            Error::VersionNotNamed { .. } => "version_not_named",
            Error::RenameTargetExists { .. } => "rename_target_exists",
            Error::RenameTargetIsFormerName { .. } => "rename_target_is_former_name",
            Error::RenameToItself { .. } => "rename_to_itself",
            Error::NoSuchFile { .. } => "no_such_file",
            Error::NoSuchFileById { .. } => "no_such_file_by_id",
            Error::UnknownRun { .. } => "unknown_run",
            Error::UnknownMetric { .. } => "unknown_metric",
            Error::TypeMismatch { .. } => "type_mismatch",
            Error::TwoRunsNeeded { .. } => "two_runs_needed",
            Error::UnsafeCheckout { .. } => "unsafe_checkout",
            Error::ChangedWhileReading { .. } => "changed_while_reading",
            Error::WouldOverwrite { .. } => "would_overwrite",
            Error::EnvCapture { .. } => "env_capture",
            Error::RenamesUnreadable { .. } => "renames_unreadable",
            Error::Remote { failure, .. } => match failure {
                RemoteFailure::Unreachable => "remote_unreachable",
                RemoteFailure::Credentials => "remote_credentials",
                RemoteFailure::NoCredentials => "remote_no_credentials",
                RemoteFailure::NoBucket => "remote_no_bucket",
                RemoteFailure::NotAStore => "remote_not_a_store",
                RemoteFailure::NewerFormat => "newer_format",
                RemoteFailure::Damaged => "remote_damaged",
                RemoteFailure::BadKey => "remote_bad_key",
                RemoteFailure::Failed => "remote_failed",
            },
            Error::UnknownRemote { .. } => "unknown_remote",
            Error::NoDefaultRemote { .. } => "no_default_remote",
            Error::RemoteExists { .. } => "remote_exists",
            Error::InvalidRemoteUrl { .. } => "invalid_remote_url",
        }
    }

    /// The option of the operation this error's hint asks for, if any: front-ends word those
    /// hints in their own terms and take [`Error::hint`] for every other.
    pub fn remedy(&self) -> Option<Remedy> {
        Some(match self {
            Error::WouldOverwrite { .. } => Remedy::Force,
            Error::NoStore { .. } => Remedy::NameStore,
            Error::NotAStore { .. } => Remedy::PointAtStore,
            Error::SourceNotFound { .. } => Remedy::DisplayPath,
            Error::DuplicatePath { .. } | Error::PathConflict { .. } => Remedy::OtherDisplayPath,
            _ => return None,
        })
    }

    /// What the user should do next, when there is something useful to say, in the library's
    /// words (see [`Error::remedy`] for the hints a front-end words itself).
    pub fn hint(&self) -> Option<String> {
        if let Some(remedy) = self.remedy() {
            return Some(remedy.hint().into());
        }
        Some(match self {
            Error::NewerFormat { .. } => "upgrade codever to read this store".into(),
            Error::Interrupted => "run the same command again to finish the transfer".into(),
            Error::InvalidName { .. } => {
                "names use letters, digits, `_`, `.` and `-`, 1 to 128 characters".into()
            }
            Error::InvalidPath { .. } => {
                "display paths are relative, `/`-separated, without `..`, e.g. `training/models.py`"
                    .into()
            }
            Error::TooLarge { .. } => {
                "keep messages, descriptions, metadata and config small (put large data in a file \
                 of the artifact instead)"
                    .into()
            }
            Error::NotText { .. } => {
                "blame shows text files; use `diff` to see whether a binary or large file changed"
                    .into()
            }
            Error::TooManyEntries { .. } => {
                "commit a narrower folder, or exclude generated files with include/exclude globs"
                    .into()
            }
            Error::SourceChanged { .. } => {
                "commit again once the file is no longer being written (a file is stored only as \
                 it was at one instant, never half old and half new)"
                    .into()
            }
            Error::InvalidSpec { .. } => {
                "a spec is [TYPE/]NAME[:vN|:latest|:ALIAS|@IDPREFIX], e.g. `rl_algo_code/ppo:v3`"
                    .into()
            }
            Error::UnknownArtifact { suggestions, .. } => format!(
                "{}`codever list` shows the artifacts in this store",
                did_you_mean(suggestions)
            ),
            Error::AmbiguousName { candidates, .. } => {
                format!("say which one, e.g. `{}`", candidates.first()?)
            }
            Error::UnknownIdPrefix { unreadable, .. } if *unreadable > 0 => {
                "`codever fsck` lists the records that cannot be read; copy them again from a healthy copy of the store, or finish syncing it".into()
            }
            Error::VersionOutOfRange { artifact, .. } | Error::UnknownIdPrefix { artifact, .. } => {
                format!("`codever versions {artifact}` lists its versions")
            }
            Error::AmbiguousIdPrefix { .. } => "give more characters of the id".into(),
            Error::RenamesUnreadable { .. } => {
                "finish syncing the store from the machine that renamed, or run `codever fsck` \
                 and copy the damaged records again from a healthy copy; then rename"
                    .into()
            }
            Error::EnvCapture { .. } => {
                "name the interpreter your runs use, e.g. `--python .venv/bin/python` (Python 3.8 \
                 or newer)"
                    .into()
            }
            Error::UnknownAlias {
                known,
                suggestions,
                ..
            } => {
                let mean = did_you_mean(suggestions);
                if known.is_empty() {
                    format!("{mean}set an alias with `codever alias SPEC ALIAS`")
                } else {
                    format!("{mean}known aliases: {}", known.join(", "))
                }
            }
            Error::ReservedAlias { .. } => {
                "pick another name for the alias, e.g. `best`, `prod` or `lr-sweep`".into()
            }
            Error::NoVersions { .. } | Error::NoCommit { .. } | Error::MissingObject { .. } => {
                "finish syncing the store from the machine that made it; `codever fsck` lists what is missing"
                    .into()
            }
            Error::CorruptObject { .. } => {
                "run `codever fsck`; copy the object again from a healthy copy of the store".into()
            }
            Error::Remote { failure, .. } => match failure {
                RemoteFailure::Unreachable => {
                    "check the endpoint URL (`remote add … --endpoint-url`, AWS_ENDPOINT_URL) and the network".into()
                }
                RemoteFailure::Credentials => {
                    "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) to credentials allowed to use the bucket".into()
                }
                RemoteFailure::NoCredentials => {
                    "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE naming a profile of ~/.aws/credentials (codever looked there, in the environment, and for an instance role)".into()
                }
                RemoteFailure::NoBucket => "create the bucket first, or check its name in the URL".into(),
                RemoteFailure::NotAStore => {
                    "point the remote at an empty place or at a codever store".into()
                }
                RemoteFailure::NewerFormat => "upgrade codever to use this remote".into(),
                RemoteFailure::BadKey => "that key is no file of codever's: delete it (e.g. `aws s3 rm` with its full key), then run the command again".into(),
                RemoteFailure::Damaged => "this store is intact: repair the remote (`codever --store REMOTE fsck`, then push to it from a sound copy) or set another default remote".into(),
                RemoteFailure::Failed => "if the cause was passing (the network, the server), run the command again: transfers resume where they stopped".into(),
            },
            Error::UnknownRemote { known, .. } | Error::NoDefaultRemote { known } => {
                if known.is_empty() {
                    "add one with `codever remote add NAME URL`".into()
                } else {
                    format!("remotes: {} (`codever remote list`)", known.join(", "))
                }
            }
            Error::RemoteExists { .. } => "remove it first, or pick another name".into(),
            Error::InvalidRemoteUrl { .. } => {
                "a remote is a path, `file:///path`, or `s3://bucket/prefix`".into()
            }
            Error::IncompleteArtifact {
                artifact,
                problems,
                ..
            } => {
                let mut todo = Vec::new();
                if problems.iter().any(|p| !p.missing) {
                    todo.push(
                        "run `codever fsck` and copy the damaged records again from a healthy copy of the store",
                    );
                }
                if problems.iter().any(|p| p.missing) {
                    todo.push("finish syncing the missing records from the machine that made them");
                }
                format!(
                    "{}; meanwhile name the version by id, as `{artifact}@IDPREFIX` (`codever versions {artifact}` lists the ids)",
                    todo.join(", and ")
                )
            }
            Error::ForgottenVersion { artifact, id, .. } => format!(
                "name it by id to read it anyway (`{artifact}@{short}`), or bring it back with \
                 `codever unforget {artifact}@{short}`",
                short = id.short()
            ),
            Error::AllVersionsForgotten { artifact } => format!(
                "`codever versions {artifact} --all` lists the forgotten versions; name one by id, \
                 or bring one back with `codever unforget {artifact}@IDPREFIX`"
            ),
            Error::ForgottenArtifact {
                artifacts,
                versions_only: false,
                ..
            } => {
                let first = artifacts.first()?;
                format!(
                    "name it with its type to read it anyway (`{first}`), or bring it back with \
                     `codever unforget --artifact {first}`"
                )
            }
            Error::ForgottenArtifact { artifacts, .. } => {
                let first = artifacts.first()?;
                format!(
                    "`codever versions {first} --all` lists them; name one by id, or bring one \
                     back with `codever unforget {first}@IDPREFIX`"
                )
            }
            Error::Renamed { old, new } => format!(
                "use the new name, `{new}`: its versions kept their numbers, ids, runs and \
                 aliases (`codever rename {new} {old}` would rename it back)"
            ),
            Error::VersionNotNamed { spec, operation } => format!(
                "name one version (`{spec}:v1`, `{spec}@IDPREFIX` or `{spec}:latest`); for the \
                 whole artifact, say so: `codever {operation} --artifact {spec}`"
            ),
            Error::RenameTargetExists { .. } => {
                "choose a name no artifact has, or rename with merge to join the two histories \
                 (the joined artifact's version numbers are then derived from both)"
                    .into()
            }
            Error::RenameTargetIsFormerName { current, .. } => format!(
                "its records still count as {current}'s; choose another name, or rename onto \
                 `{current}` with merge"
            ),
            Error::RenameToItself { .. } => "give another name (or another type)".into(),
            Error::NoSuchFile { .. } | Error::NoSuchFileById { .. } => {
                "`codever show SPEC` lists the files of a version".into()
            }
            Error::UnknownRun { .. } => "`codever runs` lists the runs in this store".into(),
            Error::UnknownMetric { known, .. } if known.is_empty() => {
                "no run has logged a number yet: summaries are saved when a run finishes (`wandb.log` then `finish()`)".into()
            }
            Error::UnknownMetric { known, .. } => format!(
                "keys with numbers: {}; prefix a key with `-` where lower is better (`-loss`)",
                known.join(", ")
            ),
            Error::TwoRunsNeeded { .. } => {
                "name two runs by id, or pick them by a summary key: the best, the worst, or one of each with an id".into()
            }
            Error::TypeMismatch { artifact, .. } => {
                format!("ask for `{artifact}`, or leave the type out")
            }
            Error::UnsafeCheckout {
                reason: Obstacle::InsideStore | Obstacle::InsideGit,
                ..
            } => "check out into a directory of your project, outside `.codever` and `.git`".into(),
            Error::UnsafeCheckout { .. } => {
                "remove the symlink or file in the way, or check out into an empty directory".into()
            }
            Error::ChangedWhileReading { .. } => "run the command again once the file stops changing".into(),
            Error::AlreadyExists { .. } => "use the existing store; nothing was changed".into(),
            Error::Io { source, .. }
                if matches!(
                    source.kind(),
                    std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
                ) =>
            {
                "free some space on that disk, then run the command again".into()
            }
            _ => return None,
        })
    }

    /// The error for a path missing from a version: named by number when it has one, else by id.
    pub fn no_such_file(
        artifact: String,
        number: Option<usize>,
        id: ObjectId,
        path: String,
    ) -> Self {
        match number {
            Some(version) => Error::NoSuchFile {
                artifact,
                version,
                path,
            },
            None => Error::NoSuchFileById { artifact, id, path },
        }
    }

    /// Wraps an I/O error with the action and path it concerns.
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An artifact refused for unreadable records names at most three of them, then says how
    /// many more there are.
    #[test]
    fn an_incomplete_artifact_lists_three_records_then_a_count() {
        let problem = |i: u8| RecordProblem {
            id: ObjectId::compute(crate::kind::Kind::Blob, &[i]),
            missing: true,
            reason: "not yet synced".into(),
        };
        let message = |n: u8| {
            Error::IncompleteArtifact {
                artifact: "t/a".into(),
                requested: "latest".into(),
                problems: (0..n).map(problem).collect(),
            }
            .to_string()
        };
        let listed = |n: u8| {
            (0..n)
                .map(|i| format!("{} not yet synced", problem(i).id.short()))
                .collect::<Vec<_>>()
                .join("; ")
        };
        let tail = "so its version numbers, `latest` and aliases could name the wrong version";
        assert_eq!(
            message(3),
            format!(
                "refusing t/a:latest: 3 records of t/a cannot be read ({}), {tail}",
                listed(3)
            )
        );
        assert_eq!(
            message(4),
            format!(
                "refusing t/a:latest: 4 records of t/a cannot be read ({}; … (1 more)), {tail}",
                listed(3)
            )
        );
    }

    #[test]
    fn library_hints_name_operations_not_flags() {
        let errors = [
            Error::WouldOverwrite {
                dir: PathBuf::from("out"),
                paths: vec!["a.py".into()],
            },
            Error::NoStore {
                start: PathBuf::from("."),
            },
            Error::NotAStore {
                path: PathBuf::from("x"),
                reason: "no format file".into(),
            },
            Error::SourceNotFound {
                path: "a.py".into(),
            },
            Error::DuplicatePath {
                path: "a.py".into(),
                first: "x/a.py".into(),
                second: "y/a.py".into(),
            },
            Error::PathConflict {
                path: "a".into(),
                child: "a/b".into(),
            },
        ];
        for e in &errors {
            let remedy = e.remedy().expect("an option hint");
            let hint = e.hint().expect("a hint");
            assert_eq!(hint, remedy.hint());
            for flag in ["--", "PATH=DISPLAY", "force=", "dir="] {
                assert!(!hint.contains(flag), "{e:?}: {hint}");
            }
        }
        assert_eq!(
            errors[0].hint().as_deref(),
            Some("check out with force to overwrite them, or into another directory")
        );
        let other = Error::UnknownRun { id: "r".into() };
        assert_eq!(other.remedy(), None);
        assert!(other.hint().is_some());
    }

    #[test]
    fn a_version_without_a_commit_is_not_an_artifact_without_versions() {
        let id = ObjectId::from_bytes([7; 32]);
        let e = Error::NoCommit {
            artifact: "code/x".into(),
            id,
        };
        assert_eq!(
            e.to_string(),
            format!(
                "code/x@{} has no readable commit record in this store yet",
                id.short()
            )
        );
        assert!(e.hint().is_some_and(|h| h.contains("finish syncing")));
    }
}
