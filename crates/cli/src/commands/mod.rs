//! The commands that are more than argument parsing, as functions returning
//! JSON (and, for the attestation checks, an exit code), so they can be
//! tested without a process. They call the libraries; the libraries hold no
//! command logic.

pub mod attest;
pub mod devices;
pub mod policy;
