//! The policy document: a policy, its rules, and the zones and device
//! assurance policies they reference.

use serde::{Deserialize, Serialize};

use crate::compile::CompiledPolicy;
use crate::error::{LoadError, from_json};
use crate::expr::{DefaultSchema, Schema};
use crate::model::{DeviceAssurance, NetworkZone, Policy, PolicyRule};

/// The largest document accepted, in bytes: room for thousands of rules,
/// while a hostile upload stays cheap to refuse.
pub const MAX_DOCUMENT_BYTES: usize = 8 * 1024 * 1024;

/// A policy document in the shapes of Okta's public API, so that objects
/// exported from Okta load as they are.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicyDocument {
    /// The `ACCESS_POLICY` policy object.
    pub policy: Policy,
    /// Its rules, in any order: priority decides.
    pub rules: Vec<PolicyRule>,
    /// IP network zones referenced by network conditions.
    #[serde(default)]
    pub zones: Vec<NetworkZone>,
    /// Device assurance policies referenced by device conditions.
    #[serde(default)]
    pub device_assurances: Vec<DeviceAssurance>,
}

impl PolicyDocument {
    /// Parses a document, refusing unknown fields with their JSON path.
    ///
    /// # Errors
    ///
    /// [`LoadError::TooLarge`] past [`MAX_DOCUMENT_BYTES`], and
    /// [`LoadError::Json`] for malformed or unexpected JSON.
    pub fn from_json(json: &str) -> Result<PolicyDocument, LoadError> {
        from_json(json, MAX_DOCUMENT_BYTES)
    }

    /// Validates the document and compiles it with the default schema.
    ///
    /// # Errors
    ///
    /// The first [`LoadError`] found: duplicate priorities or ids, unknown
    /// references, malformed zones or versions, `managed` without
    /// `registered: true`, and expression errors.
    pub fn compile(&self) -> Result<CompiledPolicy, LoadError> {
        self.compile_with(&DefaultSchema::new())
    }

    /// Validates and compiles against `schema`.
    ///
    /// # Errors
    ///
    /// As [`PolicyDocument::compile`].
    pub fn compile_with(&self, schema: &dyn Schema) -> Result<CompiledPolicy, LoadError> {
        CompiledPolicy::new(self.clone(), schema)
    }
}
