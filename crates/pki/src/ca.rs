//! The certificate authority: a root, an intermediate (pathLen 0) that
//! issues management-attestation client certificates, and revocation.

use std::str::FromStr;
use std::sync::Arc;

use time::{Duration, OffsetDateTime};
use x509_cert::name::Name;

use crate::cert::CertificateTemplate;
use crate::{
    Backend, Certificate, CertificateRequest, Crl, Error, IssuanceLedger, IssuedCertificate,
    KeyAlgorithm, KeyPolicy, PrivateKey, Result, Revocation, RevocationReason, SerialNumber,
    Signer, profile, x509_time,
};

/// How a CA is set up. Every field has a default fit for a new organisation.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CaConfig {
    /// The root's subject, RFC 4514 text.
    pub root_subject: String,
    /// The intermediate's subject, RFC 4514 text.
    pub intermediate_subject: String,
    /// Key type of both CA keys.
    pub key: KeyAlgorithm,
    /// Root validity in days (default 20 years).
    pub root_validity_days: u32,
    /// Intermediate validity in days (default 10 years).
    pub intermediate_validity_days: u32,
    /// Default client-certificate validity in days (default 365).
    pub leaf_validity_days: u32,
    /// How long a CRL is current (nextUpdate - thisUpdate), in hours (default 168).
    pub crl_validity_hours: u32,
    /// CRL distribution point URL written into client certificates, if any.
    pub crl_distribution_point: Option<String>,
    /// notBefore is this many seconds before issuance, for clients with slow clocks (default 300).
    pub backdate_seconds: u32,
    /// What requests must satisfy.
    pub key_policy: KeyPolicy,
}

impl Default for CaConfig {
    fn default() -> Self {
        Self {
            root_subject: "CN=Organization Root Authority".into(),
            intermediate_subject: "CN=Organization Intermediate Authority".into(),
            key: KeyAlgorithm::EcP256,
            root_validity_days: 7300,
            intermediate_validity_days: 3650,
            leaf_validity_days: 365,
            crl_validity_hours: 168,
            crl_distribution_point: None,
            backdate_seconds: 300,
            key_policy: KeyPolicy::default(),
        }
    }
}

/// Options for one issuance.
#[derive(Debug, Clone, Default)]
pub struct IssueOptions {
    /// Validity in days; the CA's default when `None`.
    pub validity_days: Option<u32>,
    /// Issue as of this time (tests, replays); now when `None`.
    pub now: Option<OffsetDateTime>,
}

/// A freshly created CA and the root key, which the caller should keep offline.
#[derive(Debug)]
pub struct NewCa {
    /// The CA, ready to issue.
    pub ca: Ca,
    /// The root's private key.
    pub root_key: PrivateKey,
}

/// A certificate signed by [`Ca::sign_unrecorded`], not yet in the ledger.
#[derive(Debug)]
pub(crate) struct Signed {
    /// The certificate.
    pub(crate) certificate: Certificate,
    /// Its ledger entry, to record before the certificate is handed out.
    pub(crate) entry: IssuedCertificate,
}

/// A certificate authority: root and intermediate certificates, the
/// intermediate's key, a crypto backend and an issuance ledger.
#[derive(Debug)]
pub struct Ca {
    config: CaConfig,
    root: Certificate,
    intermediate: Certificate,
    intermediate_key: PrivateKey,
    signer: Box<dyn Signer>,
    backend: &'static dyn Backend,
    ledger: Arc<dyn IssuanceLedger>,
}

fn parse_name(text: &str) -> Result<Name> {
    Name::from_str(text).map_err(|e| Error::RequestRefused {
        reason: format!("bad distinguished name {text:?}: {e}"),
    })
}

fn days(n: u32) -> Duration {
    Duration::days(i64::from(n))
}

impl Ca {
    /// Creates a root and an intermediate with fresh keys.
    pub fn create(
        config: CaConfig,
        backend: &'static dyn Backend,
        ledger: Arc<dyn IssuanceLedger>,
    ) -> Result<NewCa> {
        let now = x509_time::whole_seconds(OffsetDateTime::now_utc());
        let root_key = backend.generate(config.key)?;
        let root_signer = backend.signer(&root_key)?;
        let root_name = parse_name(&config.root_subject)?;
        let root = CertificateTemplate {
            serial: SerialNumber::random()?,
            issuer: root_name.clone(),
            subject: root_name.clone(),
            not_before: now,
            not_after: now + days(config.root_validity_days),
            public_key: root_key.public_key().clone(),
            extensions: profile::ca(root_key.public_key(), None, None)?,
        }
        .sign(root_signer.as_ref())?;

        let intermediate_key = backend.generate(config.key)?;
        let intermediate = CertificateTemplate {
            serial: SerialNumber::random()?,
            issuer: root_name,
            subject: parse_name(&config.intermediate_subject)?,
            not_before: now,
            not_after: (now + days(config.intermediate_validity_days)).min(root.not_after()),
            public_key: intermediate_key.public_key().clone(),
            extensions: profile::ca(
                intermediate_key.public_key(),
                Some(&root_key.public_key().key_id()),
                Some(0),
            )?,
        }
        .sign(root_signer.as_ref())?;
        let ca = Self::from_parts(
            config,
            root,
            intermediate,
            intermediate_key,
            backend,
            ledger,
        )?;
        Ok(NewCa { ca, root_key })
    }

    /// Assembles a CA from stored parts, checking that they belong together.
    pub fn from_parts(
        config: CaConfig,
        root: Certificate,
        intermediate: Certificate,
        intermediate_key: PrivateKey,
        backend: &'static dyn Backend,
        ledger: Arc<dyn IssuanceLedger>,
    ) -> Result<Self> {
        let policy = KeyPolicy::default();
        let bad = |cert: &Certificate, reason: &str| Error::BadCertificate {
            subject: cert.subject().to_string(),
            reason: reason.to_owned(),
        };
        if intermediate_key.public_key() != intermediate.public_key() {
            return Err(bad(
                &intermediate,
                "the intermediate key does not match its certificate",
            ));
        }
        if !root.is_ca()? || !intermediate.is_ca()? {
            return Err(bad(
                &intermediate,
                "root and intermediate must both be CA certificates",
            ));
        }
        if intermediate.issuer() != root.subject() {
            return Err(Error::WrongIssuer {
                issuer: intermediate.issuer().to_string(),
                expected: root.subject().to_string(),
            });
        }
        root.verify_signature(root.public_key(), &policy, backend)?;
        intermediate.verify_signature(root.public_key(), &policy, backend)?;
        let signer = backend.signer(&intermediate_key)?;
        Ok(Self {
            config,
            root,
            intermediate,
            intermediate_key,
            signer,
            backend,
            ledger,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &CaConfig {
        &self.config
    }

    /// The root certificate.
    pub fn root(&self) -> &Certificate {
        &self.root
    }

    /// The intermediate: what admins upload to their MDM (the guide's "Download x509 certificate").
    pub fn intermediate(&self) -> &Certificate {
        &self.intermediate
    }

    /// The intermediate's private key (to persist it).
    pub fn intermediate_key(&self) -> &PrivateKey {
        &self.intermediate_key
    }

    /// The crypto backend.
    pub fn backend(&self) -> &'static dyn Backend {
        self.backend
    }

    /// The issuance ledger.
    pub fn ledger(&self) -> &Arc<dyn IssuanceLedger> {
        &self.ledger
    }

    /// Intermediate then root, PEM.
    pub fn chain_pem(&self) -> Result<String> {
        Ok(format!(
            "{}{}",
            self.intermediate.to_pem()?,
            self.root.to_pem()?
        ))
    }

    /// Intermediate then root, DER each.
    pub fn chain_der(&self) -> Vec<Vec<u8>> {
        vec![self.intermediate.der().to_vec(), self.root.der().to_vec()]
    }

    /// Parses and verifies a PKCS#10 request (DER or PEM) under this CA's key policy.
    pub fn parse_request(&self, input: &[u8]) -> Result<CertificateRequest> {
        CertificateRequest::parse(input, &self.config.key_policy, self.backend)
    }

    /// Issues a management-attestation client certificate for a verified
    /// request, and records it in the ledger before returning it.
    pub fn issue(
        &self,
        request: &CertificateRequest,
        options: &IssueOptions,
    ) -> Result<Certificate> {
        let signed = self.sign_unrecorded(request, options)?;
        self.ledger.record_issued(signed.entry)?;
        let cert = signed.certificate;
        tracing::info!(serial = %cert.serial()?, subject = %cert.subject(), "issued certificate");
        Ok(cert)
    }

    /// Signs the certificate [`Self::issue`] would, without recording it:
    /// the caller records `entry` in [`Self::ledger`] before the certificate
    /// leaves its hands, in the same store transaction as whatever else
    /// the issuance decides (a SCEP transaction's outcome).
    pub(crate) fn sign_unrecorded(
        &self,
        request: &CertificateRequest,
        options: &IssueOptions,
    ) -> Result<Signed> {
        let now = x509_time::whole_seconds(options.now.unwrap_or_else(OffsetDateTime::now_utc));
        let validity = options
            .validity_days
            .unwrap_or(self.config.leaf_validity_days);
        if validity == 0 {
            return Err(Error::RequestRefused {
                reason: "validity must be at least one day".into(),
            });
        }
        // Never outlive the issuer: a client would refuse the chain anyway.
        let not_after = (now + days(validity)).min(self.intermediate.not_after());
        let not_before = now - Duration::seconds(i64::from(self.config.backdate_seconds));
        self.intermediate.check_validity(now)?;
        let subject_is_empty = request.subject().is_empty();
        let extensions = profile::management_attestation(
            request.public_key(),
            &self.intermediate.public_key().key_id(),
            self.config.crl_distribution_point.as_deref(),
            request.subject_alt_name(),
            subject_is_empty,
        )?;
        let mut attempts = 0;
        let (serial, cert) = loop {
            let serial = SerialNumber::random()?;
            attempts += 1;
            if self.ledger.get(&serial)?.is_some() && attempts < 4 {
                continue;
            }
            let cert = CertificateTemplate {
                serial: serial.clone(),
                issuer: self.intermediate.subject().clone(),
                subject: request.subject().clone(),
                not_before,
                not_after,
                public_key: request.public_key().clone(),
                extensions,
            }
            .sign(self.signer.as_ref())?;
            break (serial, cert);
        };
        Ok(Signed {
            entry: IssuedCertificate {
                serial,
                subject: cert.subject().to_string(),
                not_before: cert.not_before(),
                not_after: cert.not_after(),
                certificate_pem: cert.to_pem()?,
                revocation: None,
            },
            certificate: cert,
        })
    }

    /// Issues the SCEP RA certificate for `key` (RSA: SCEP's key transport
    /// needs it), so that an ECDSA CA can still serve SCEP. It is recorded in
    /// the ledger like any other certificate and lives as long as the intermediate.
    pub fn issue_ra_certificate(&self, key: &PrivateKey, subject: &str) -> Result<Certificate> {
        if !matches!(key.algorithm(), KeyAlgorithm::Rsa { .. }) {
            return Err(Error::UnsupportedKey {
                detail: format!("a SCEP RA key must be RSA, not {}", key.algorithm()),
            });
        }
        self.config.key_policy.check_key(key.public_key())?;
        let now = x509_time::whole_seconds(OffsetDateTime::now_utc());
        let cert = CertificateTemplate {
            serial: SerialNumber::random()?,
            issuer: self.intermediate.subject().clone(),
            subject: parse_name(subject)?,
            not_before: now - Duration::seconds(i64::from(self.config.backdate_seconds)),
            not_after: self.intermediate.not_after(),
            public_key: key.public_key().clone(),
            extensions: profile::sign_and_decrypt(
                key.public_key(),
                Some(&self.intermediate.public_key().key_id()),
            )?,
        }
        .sign(self.signer.as_ref())?;
        self.ledger.record_issued(IssuedCertificate {
            serial: cert.serial()?,
            subject: cert.subject().to_string(),
            not_before: cert.not_before(),
            not_after: cert.not_after(),
            certificate_pem: cert.to_pem()?,
            revocation: None,
        })?;
        Ok(cert)
    }

    /// Revokes a certificate this CA issued. Revoking twice keeps the first revocation.
    pub fn revoke(
        &self,
        serial: &SerialNumber,
        reason: RevocationReason,
        at: OffsetDateTime,
    ) -> Result<Revocation> {
        if self.ledger.get(serial)?.is_none() {
            return Err(Error::UnknownSerial {
                serial: serial.clone(),
            });
        }
        let revocation = self.ledger.revoke(
            serial,
            Revocation {
                reason,
                revoked_at: x509_time::whole_seconds(at),
            },
        )?;
        tracing::info!(%serial, reason = %revocation.reason, "revoked certificate");
        Ok(revocation)
    }

    /// Signs a fresh CRL as of `now`, with the next CRL number.
    pub fn crl(&self, now: OffsetDateTime) -> Result<Crl> {
        let revoked = self.ledger.revoked(x509_time::whole_seconds(now))?;
        let number = self.ledger.next_crl_number()?;
        self.sign_crl(now, number, &revoked)
    }

    /// Signs a CRL as of `now` listing `revoked`, numbered `number`: for a
    /// caller that reads the ledger and takes the number itself, in the
    /// transaction that stores the CRL (so replicas sign one at a time).
    pub fn sign_crl(
        &self,
        now: OffsetDateTime,
        number: u64,
        revoked: &[(SerialNumber, Revocation)],
    ) -> Result<Crl> {
        let now = x509_time::whole_seconds(now);
        let next = now + Duration::hours(i64::from(self.config.crl_validity_hours));
        crate::crl::build(
            &self.intermediate,
            self.signer.as_ref(),
            number,
            now,
            next,
            revoked,
        )
    }

    /// Checks a client certificate against this CA at `time`: issued and
    /// signed by our intermediate, within validity, a client-auth end-entity
    /// certificate, and revoked neither in the ledger nor on `crl` (if given,
    /// which is itself verified first).
    pub fn verify(
        &self,
        cert: &Certificate,
        crl: Option<&Crl>,
        time: OffsetDateTime,
    ) -> Result<()> {
        let policy = &self.config.key_policy;
        if cert.issuer() != self.intermediate.subject() {
            return Err(Error::WrongIssuer {
                issuer: cert.issuer().to_string(),
                expected: self.intermediate.subject().to_string(),
            });
        }
        cert.verify_signature(self.intermediate.public_key(), policy, self.backend)?;
        self.intermediate.check_validity(time)?;
        cert.check_validity(time)?;
        let bad = |reason: &str| Error::BadCertificate {
            subject: cert.subject().to_string(),
            reason: reason.to_owned(),
        };
        if cert.is_ca()? {
            return Err(bad("a CA certificate is not a client certificate"));
        }
        if !cert.key_usage()?.is_some_and(|ku| ku.digital_signature()) {
            return Err(bad("keyUsage lacks digitalSignature"));
        }
        if let Some(eku) = cert.extended_key_usage()? {
            let client = const_oid::db::rfc5912::ID_KP_CLIENT_AUTH;
            let any = const_oid::db::rfc5912::ANY_EXTENDED_KEY_USAGE;
            if !eku.0.iter().any(|o| *o == client || *o == any) {
                return Err(bad("extendedKeyUsage lacks clientAuth"));
            }
        }
        let serial = cert.serial()?;
        let revoked = |r: Revocation| Error::Revoked {
            serial: serial.clone(),
            revoked_at: r.revoked_at,
            reason: r.reason,
        };
        if let Some(r) = self.ledger.get(&serial)?.and_then(|c| c.revocation)
            && r.revoked_at <= time
        {
            return Err(revoked(r));
        }
        if let Some(crl) = crl {
            crl.verify(&self.intermediate, time, policy, self.backend)?;
            if let Some(r) = crl.revocation(&serial) {
                return Err(revoked(r));
            }
        }
        Ok(())
    }
}
