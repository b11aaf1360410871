//! Building and checking a path from a device's certificate to a trust anchor.
//!
//! The anchors are CA certificates the configuration trusts directly: our
//! intermediate, or the admin's uploaded CAs. A path is leaf, then zero or
//! more supplied intermediates, then one anchor. Candidates for an issuer are
//! found by name chaining (issuer = subject), narrowed by key identifier
//! (authorityKeyIdentifier = subjectKeyIdentifier when both are present),
//! anchors first. Every candidate costs one unit of budget, and the search is
//! depth-first with backtracking, so a pile of same-named certificates cannot
//! make it run long (as in webpki).
//!
//! Each issuer on the path must verify the signature below it, be a CA
//! (basicConstraints `cA`), allow keyCertSign, be valid at the time of the
//! check, satisfy its pathLenConstraint, and pass the key policy. Unlike some
//! validators we apply these to the anchor too: an uploaded CA is only as good
//! as what it says about itself.

use const_oid::db::rfc5912;
use devicetrust_pki::{Backend, Certificate, KeyPolicy};
use time::OffsetDateTime;

use crate::CheckError;
use crate::cache::{SignatureCache, Signed};

/// Limits and policy for path building.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChainOptions {
    /// Keys and signature algorithms accepted anywhere in the chain.
    pub key_policy: KeyPolicy,
    /// Most candidate issuers tried (each may cost a signature check).
    pub budget: usize,
    /// Most certificates in a path, leaf and anchor included.
    pub max_depth: usize,
}

impl Default for ChainOptions {
    fn default() -> Self {
        Self {
            key_policy: KeyPolicy::default(),
            budget: 32,
            max_depth: 6,
        }
    }
}

impl ChainOptions {
    /// Sets the budget of candidate issuers tried.
    pub fn with_budget(mut self, budget: usize) -> Self {
        self.budget = budget;
        self
    }

    /// Sets the key policy.
    pub fn with_key_policy(mut self, key_policy: KeyPolicy) -> Self {
        self.key_policy = key_policy;
        self
    }
}

/// A path that checked out: leaf first, trust anchor last. It borrows the
/// certificates it was built from (no copies on the warm path).
#[derive(Debug, Clone)]
pub struct VerifiedChain<'c> {
    certificates: Vec<&'c Certificate>,
}

impl<'c> VerifiedChain<'c> {
    /// Leaf first, anchor last.
    pub fn certificates(&self) -> &[&'c Certificate] {
        &self.certificates
    }

    /// The device's certificate.
    pub fn leaf(&self) -> Option<&'c Certificate> {
        self.certificates.first().copied()
    }

    /// The trust anchor the path ends at.
    pub fn anchor(&self) -> Option<&'c Certificate> {
        self.certificates.last().copied()
    }
}

/// Checks chains; holds the backend, the options and (optionally) a cache.
#[derive(Debug, Clone, Copy)]
pub struct ChainVerifier<'a> {
    /// Limits and policy.
    pub options: &'a ChainOptions,
    /// The crypto backend.
    pub backend: &'a dyn Backend,
    /// Verified signatures to reuse, if any.
    pub cache: Option<&'a SignatureCache>,
}

impl<'a> ChainVerifier<'a> {
    /// A verifier without a cache.
    pub fn new(options: &'a ChainOptions, backend: &'a dyn Backend) -> Self {
        Self {
            options,
            backend,
            cache: None,
        }
    }

    /// The same verifier with a cache of verified signatures.
    pub fn with_cache(mut self, cache: &'a SignatureCache) -> Self {
        self.cache = Some(cache);
        self
    }

    /// Everything about the device's own certificate that does not need its
    /// issuer: validity, role, keyUsage, extendedKeyUsage, critical
    /// extensions and key policy. Returns every failure, not just the first.
    pub fn check_leaf(&self, leaf: &Certificate, time: OffsetDateTime) -> Vec<CheckError> {
        let subject = || leaf.subject().to_string();
        let mut errors = Vec::new();
        if let Err(e) = check_validity(leaf, time) {
            errors.push(e);
        }
        if let Err(e) = check_critical_extensions(leaf) {
            errors.push(e);
        }
        if let Err(source) = self.options.key_policy.check_key(leaf.public_key()) {
            errors.push(CheckError::KeyPolicy {
                subject: subject(),
                source,
            });
        }
        match leaf.is_ca() {
            Ok(true) => errors.push(CheckError::LeafIsCa { subject: subject() }),
            Ok(false) => {}
            Err(source) => errors.push(malformed(source)),
        }
        match leaf.key_usage() {
            Ok(Some(ku)) if ku.digital_signature() => {}
            Ok(_) => errors.push(CheckError::NoDigitalSignature { subject: subject() }),
            Err(source) => errors.push(malformed(source)),
        }
        match leaf.extended_key_usage() {
            Ok(Some(eku))
                if !eku.0.iter().any(|o| {
                    *o == rfc5912::ID_KP_CLIENT_AUTH || *o == rfc5912::ANY_EXTENDED_KEY_USAGE
                }) =>
            {
                errors.push(CheckError::EkuNotClientAuth {
                    subject: subject(),
                    found: eku.0.iter().map(ToString::to_string).collect(),
                });
            }
            Ok(_) => {}
            Err(source) => errors.push(malformed(source)),
        }
        errors
    }

    /// Finds a path from `leaf` through `intermediates` to one of `anchors`,
    /// checking every issuer on it at `time`. The leaf's own properties are
    /// [`ChainVerifier::check_leaf`]'s job.
    pub fn build_path<'c>(
        &self,
        leaf: &'c Certificate,
        intermediates: &'c [Certificate],
        anchors: &'c [Certificate],
        time: OffsetDateTime,
    ) -> Result<VerifiedChain<'c>, CheckError> {
        let mut search = Search {
            verifier: self,
            intermediates,
            anchors,
            time,
            budget: self.options.budget,
            path: vec![leaf],
        };
        let anchor = search.extend()?;
        let mut certificates = search.path;
        certificates.push(anchor);
        Ok(VerifiedChain { certificates })
    }

    /// Verifies that `issuer` signed `cert`, through the cache if there is one.
    pub fn verify_signature(
        &self,
        cert: &Certificate,
        issuer: &Certificate,
    ) -> Result<(), CheckError> {
        let policy = &self.options.key_policy;
        let bad = |source| classify(cert, issuer, source);
        // Policy is checked on every call; only the signature is cached.
        let algorithm = cert.signature_algorithm().map_err(bad)?;
        policy.check_signature_algorithm(algorithm).map_err(bad)?;
        let key = self.cache.map(|_| {
            SignatureCache::key(
                Signed::Certificate,
                cert.der(),
                issuer.public_key().spki_der(),
            )
        });
        if let (Some(cache), Some(key)) = (self.cache, key.as_ref())
            && cache.contains(key)
        {
            return Ok(());
        }
        cert.verify_signature(issuer.public_key(), policy, self.backend)
            .map_err(bad)?;
        if let (Some(cache), Some(key)) = (self.cache, key) {
            cache.insert(key);
        }
        Ok(())
    }
}

/// Parses a bundle (PEM blocks, or one DER certificate) and checks it as a
/// self-contained chain at `time` (now if `None`): the first certificate is
/// the leaf, the last is taken as the trust anchor, any between are
/// intermediates. Returns the path (leaf first) or every failure. This is for tools and fuzzing:
/// attestation itself trusts only a configuration's anchors.
pub fn verify_bundle(
    input: &[u8],
    time: Option<OffsetDateTime>,
    backend: &dyn Backend,
) -> Result<Vec<Certificate>, Vec<CheckError>> {
    let malformed = |source| {
        vec![CheckError::Malformed {
            what: "certificate bundle",
            source,
        }]
    };
    let certs = if input.first() == Some(&0x30) {
        Certificate::from_der(input).map(|c| vec![c])
    } else {
        Certificate::parse_pem_chain(input)
    }
    .map_err(malformed)?;
    let time = time.unwrap_or_else(OffsetDateTime::now_utc);
    let (Some(leaf), Some(anchor)) = (certs.first(), certs.last()) else {
        return Err(vec![CheckError::PathTooLong { max_depth: 0 }]);
    };
    let middle = certs
        .get(1..certs.len().saturating_sub(1))
        .unwrap_or_default();
    let options = ChainOptions::default();
    let verifier = ChainVerifier::new(&options, backend);
    let mut errors = verifier.check_leaf(leaf, time);
    match verifier.build_path(leaf, middle, std::slice::from_ref(anchor), time) {
        Ok(chain) if errors.is_empty() => {
            Ok(chain.certificates().iter().map(|c| (*c).clone()).collect())
        }
        Ok(_) => Err(errors),
        Err(e) => {
            errors.push(e);
            Err(errors)
        }
    }
}

struct Search<'v, 'a, 'c> {
    verifier: &'v ChainVerifier<'a>,
    intermediates: &'c [Certificate],
    anchors: &'c [Certificate],
    time: OffsetDateTime,
    budget: usize,
    path: Vec<&'c Certificate>,
}

impl<'c> Search<'_, '_, 'c> {
    /// Extends `path` (whose last certificate needs an issuer) to an anchor.
    fn extend(&mut self) -> Result<&'c Certificate, CheckError> {
        let Some(&child) = self.path.last() else {
            return Err(CheckError::PathTooLong { max_depth: 0 });
        };
        if self.path.len() >= self.verifier.options.max_depth {
            return Err(CheckError::PathTooLong {
                max_depth: self.verifier.options.max_depth,
            });
        }
        let aki = child.authority_key_id().map_err(malformed)?;
        let anchors = self.anchors.iter().map(|c| (c, true));
        let intermediates = self.intermediates.iter().map(|c| (c, false));
        let mut first_error = None;
        for (candidate, is_anchor) in anchors.chain(intermediates) {
            if candidate.subject() != child.issuer()
                || self.path.iter().any(|p| p.der() == candidate.der())
            {
                continue;
            }
            if let (Some(aki), Ok(Some(ski))) = (&aki, candidate.subject_key_id())
                && *aki != ski
            {
                continue;
            }
            match self.try_issuer(child, candidate, is_anchor) {
                Ok(anchor) => return Ok(anchor),
                Err(e @ CheckError::BudgetExceeded { .. }) => return Err(e),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        Err(first_error.unwrap_or_else(|| CheckError::UnknownIssuer {
            subject: child.subject().to_string(),
            issuer: child.issuer().to_string(),
            authority_key_id: aki.map(hex::encode),
        }))
    }

    fn try_issuer(
        &mut self,
        child: &Certificate,
        candidate: &'c Certificate,
        is_anchor: bool,
    ) -> Result<&'c Certificate, CheckError> {
        self.budget = self
            .budget
            .checked_sub(1)
            .ok_or(CheckError::BudgetExceeded {
                budget: self.verifier.options.budget,
            })?;
        self.verifier.verify_signature(child, candidate)?;
        self.check_issuer(candidate)?;
        if is_anchor {
            return Ok(candidate);
        }
        self.path.push(candidate);
        let result = self.extend();
        if result.is_err() {
            self.path.pop();
        }
        result
    }

    /// The checks on a certificate acting as an issuer above the current path.
    fn check_issuer(&self, issuer: &Certificate) -> Result<(), CheckError> {
        let subject = || issuer.subject().to_string();
        let bc = issuer.basic_constraints().map_err(malformed)?;
        let Some(bc) = bc.filter(|b| b.ca) else {
            return Err(CheckError::NotCa { subject: subject() });
        };
        if !issuer
            .key_usage()
            .map_err(malformed)?
            .is_some_and(|ku| ku.key_cert_sign())
        {
            return Err(CheckError::NoKeyCertSign { subject: subject() });
        }
        check_validity(issuer, self.time)?;
        check_critical_extensions(issuer)?;
        self.verifier
            .options
            .key_policy
            .check_key(issuer.public_key())
            .map_err(|source| CheckError::KeyPolicy {
                subject: subject(),
                source,
            })?;
        // RFC 5280, 4.2.1.9: pathLenConstraint counts the non-self-issued
        // intermediate CA certificates that may follow this one (the leaf
        // is not counted).
        if let Some(path_len) = bc.path_len_constraint {
            let below = self
                .path
                .iter()
                .skip(1)
                .filter(|c| c.subject() != c.issuer())
                .count();
            if below > usize::from(path_len) {
                return Err(CheckError::PathLenExceeded {
                    subject: subject(),
                    path_len,
                    below,
                });
            }
        }
        Ok(())
    }
}

fn check_validity(cert: &Certificate, time: OffsetDateTime) -> Result<(), CheckError> {
    if time < cert.not_before() {
        return Err(CheckError::NotYetValid {
            subject: cert.subject().to_string(),
            time,
            not_before: cert.not_before(),
        });
    }
    if time > cert.not_after() {
        return Err(CheckError::Expired {
            subject: cert.subject().to_string(),
            time,
            not_after: cert.not_after(),
        });
    }
    Ok(())
}

/// Extensions whose meaning we act on (or that carry no constraint).
const UNDERSTOOD: [const_oid::ObjectIdentifier; 6] = [
    rfc5912::ID_CE_BASIC_CONSTRAINTS,
    rfc5912::ID_CE_KEY_USAGE,
    rfc5912::ID_CE_EXT_KEY_USAGE,
    rfc5912::ID_CE_SUBJECT_ALT_NAME,
    rfc5912::ID_CE_SUBJECT_KEY_IDENTIFIER,
    rfc5912::ID_CE_AUTHORITY_KEY_IDENTIFIER,
];

/// RFC 5280, 4.2: a critical extension we do not process (name constraints,
/// policy constraints...) must make the certificate unusable.
fn check_critical_extensions(cert: &Certificate) -> Result<(), CheckError> {
    let extensions = cert.x509().tbs_certificate().extensions();
    match extensions
        .into_iter()
        .flatten()
        .find(|e| e.critical && !UNDERSTOOD.contains(&e.extn_id))
    {
        Some(e) => Err(CheckError::UnhandledCriticalExtension {
            subject: cert.subject().to_string(),
            oid: e.extn_id.to_string(),
        }),
        None => Ok(()),
    }
}

fn malformed(source: devicetrust_pki::Error) -> CheckError {
    CheckError::Malformed {
        what: "certificate extension",
        source,
    }
}

/// Sorts a pki verification error into the check it failed.
fn classify(
    cert: &Certificate,
    issuer: &Certificate,
    source: devicetrust_pki::Error,
) -> CheckError {
    use devicetrust_pki::Error as E;
    match source {
        E::BadSignature { .. } | E::Backend { .. } => CheckError::BadSignature {
            subject: cert.subject().to_string(),
            issuer: issuer.subject().to_string(),
            source,
        },
        _ => CheckError::KeyPolicy {
            subject: cert.subject().to_string(),
            source,
        },
    }
}
