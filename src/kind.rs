//! What an object is: the kind hashed into its id and written in its envelope. A leaf: every
//! other module may use it.

/// What an object is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// A file's bytes.
    Blob = 1,
    /// One directory: names mapped to files and subtrees.
    Tree = 2,
    /// One commit of an artifact by a run.
    Commit = 3,
    /// A run's description.
    Run = 4,
    /// An alias event.
    Alias = 5,
    /// "This run used that version" (W&B's `use_artifact`).
    Use = 6,
    /// A forget or unforget event: a version, or a whole artifact, hidden or shown again.
    Forget = 7,
    /// A rename event: an artifact known from then on under another type and name.
    Rename = 8,
    /// A run's config, summary and name at one moment (W&B's `finish`).
    State = 9,
}

impl Kind {
    /// The name hashed into ids.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Blob => "blob",
            Kind::Tree => "tree",
            Kind::Commit => "commit",
            Kind::Run => "run",
            Kind::Alias => "alias",
            Kind::Use => "use",
            Kind::Forget => "forget",
            Kind::Rename => "rename",
            Kind::State => "state",
        }
    }

    /// Parses the kind byte of an envelope.
    pub fn from_byte(b: u8) -> Option<Kind> {
        Some(match b {
            1 => Kind::Blob,
            2 => Kind::Tree,
            3 => Kind::Commit,
            4 => Kind::Run,
            5 => Kind::Alias,
            6 => Kind::Use,
            7 => Kind::Forget,
            8 => Kind::Rename,
            9 => Kind::State,
            _ => return None,
        })
    }
}
