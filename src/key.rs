//! An artifact's identity: its type and name.

use std::fmt;

use crate::error::Result;
use crate::names::validate_name;

/// An artifact's identity: its type and name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ArtifactKey {
    /// The type (`rl_algo_code`).
    pub artifact_type: String,
    /// The name (`ppo`).
    pub name: String,
}

impl ArtifactKey {
    /// Validates and builds a key.
    pub fn new(artifact_type: &str, name: &str) -> Result<ArtifactKey> {
        validate_name("type", artifact_type)?;
        validate_name("artifact name", name)?;
        Ok(ArtifactKey {
            artifact_type: artifact_type.to_string(),
            name: name.to_string(),
        })
    }
}

impl fmt::Display for ArtifactKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.artifact_type, self.name)
    }
}

impl ArtifactKey {
    /// Whether a record naming `artifact_type`/`name` belongs to this artifact: a record marked
    /// under another artifact's directory is never counted as one of its versions.
    pub fn owns(&self, artifact_type: &str, name: &str) -> bool {
        self.artifact_type == artifact_type && self.name == name
    }
}
