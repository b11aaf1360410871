//! Is this device managed? The answer, over every active configuration.

use std::sync::Arc;

use devicetrust_pki::{Backend, Certificate};
use time::OffsetDateTime;

use crate::cache::{CertificateCache, SignatureCache};
use crate::chain::{ChainOptions, ChainVerifier};
use crate::config::{ConfigurationId, ConfigurationKind, Configurations};
use crate::desktop::DesktopEvidence;
use crate::hint::HintMatch;
use crate::nonce::{Binding, Nonce, NonceError, NonceService, Presented, Proof};
use crate::{CheckError, Platform};

/// The purpose nonces for management attestation are bound to.
pub const PURPOSE: &str = "managementAttestation";

/// One reason a device is not managed, and the configuration it concerns
/// (`None` for reasons that concern no single configuration, such as the nonce).
#[derive(Debug)]
pub struct Reason {
    /// The configuration whose check failed.
    pub configuration_id: Option<ConfigurationId>,
    /// The failed check, with its evidence.
    pub error: CheckError,
}

impl serde::Serialize for Reason {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Reason", 3)?;
        st.serialize_field(
            "configurationId",
            &self.configuration_id.map(|id| id.to_string()),
        )?;
        st.serialize_field("kind", self.error.kind())?;
        st.serialize_field("message", &self.error.to_string())?;
        st.end()
    }
}

/// Where an unmanaged mobile device can enroll.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Enrollment {
    /// The configuration.
    pub configuration_id: ConfigurationId,
    /// "Device management provider".
    pub provider_name: String,
    /// "Enrollment link".
    pub enrollment_link: String,
}

/// The answer.
#[derive(Debug, serde::Serialize)]
#[serde(tag = "status", rename_all = "camelCase")]
pub enum Outcome {
    /// The device is managed; this configuration attested it.
    #[serde(rename_all = "camelCase")]
    Managed {
        /// The configuration that attested the device.
        configuration_id: ConfigurationId,
        /// Its platform.
        platform: Platform,
        /// For a mobile, whether the previous key (in its grace period) matched.
        previous_key: bool,
    },
    /// The device is not managed, for every one of these reasons.
    #[serde(rename_all = "camelCase")]
    NotManaged {
        /// Every failed check.
        reasons: Vec<Reason>,
        /// For mobiles: where to enroll.
        enrollment: Vec<Enrollment>,
    },
}

impl Outcome {
    /// Whether the device is managed.
    pub fn is_managed(&self) -> bool {
        matches!(self, Self::Managed { .. })
    }

    /// The reasons, empty when managed.
    pub fn reasons(&self) -> &[Reason] {
        match self {
            Self::Managed { .. } => &[],
            Self::NotManaged { reasons, .. } => reasons,
        }
    }
}

/// A desktop's attestation request: its chain and its signed nonce.
#[derive(Debug, Clone, Copy)]
pub struct DesktopRequest<'a> {
    /// The device's platform (Windows or macOS).
    pub platform: Platform,
    /// The organisation.
    pub org: &'a str,
    /// The registered device's ID.
    pub device_id: &'a str,
    /// The identifier the device's MDM knows it by (its UDID), which the
    /// certificate may name instead; see [`crate::binding::check_binding_to`].
    pub hardware_id: Option<&'a str>,
    /// Its client certificate.
    pub leaf: &'a Certificate,
    /// Intermediates it sent along.
    pub intermediates: &'a [Certificate],
    /// The nonce the server issued for this device.
    pub nonce: &'a str,
    /// The device's signature over it.
    pub proof: &'a Proof,
}

/// Attests devices against an organisation's configurations.
#[derive(Debug)]
pub struct Attestor {
    configurations: Configurations,
    options: ChainOptions,
    backend: &'static dyn Backend,
    cache: SignatureCache,
    certificates: CertificateCache,
    nonces: NonceService,
}

impl Attestor {
    /// An attestor with default chain options, a default-size signature cache
    /// and a nonce service with a fresh key.
    pub fn new(
        configurations: Configurations,
        backend: &'static dyn Backend,
    ) -> Result<Self, NonceError> {
        Ok(Self {
            configurations,
            options: ChainOptions::default(),
            backend,
            cache: SignatureCache::default(),
            certificates: CertificateCache::default(),
            nonces: NonceService::new()?,
        })
    }

    /// Replaces the chain options.
    pub fn with_options(mut self, options: ChainOptions) -> Self {
        self.options = options;
        self
    }

    /// Replaces the signature cache (capacity 0 disables it).
    pub fn with_cache(mut self, cache: SignatureCache) -> Self {
        self.cache = cache;
        self
    }

    /// Replaces the parsed-certificate cache (capacity 0 disables it).
    pub fn with_certificate_cache(mut self, certificates: CertificateCache) -> Self {
        self.certificates = certificates;
        self
    }

    /// Parses a presented DER certificate, reusing the parse of the same
    /// bytes from an earlier request (see [`CertificateCache`]).
    pub fn parse_certificate(&self, der: &[u8]) -> Result<Arc<Certificate>, CheckError> {
        self.certificates
            .parse(der)
            .map_err(|source| CheckError::Malformed {
                what: "certificate",
                source,
            })
    }

    /// Replaces the nonce service (a shared key, another validity).
    pub fn with_nonce_service(mut self, nonces: NonceService) -> Self {
        self.nonces = nonces;
        self
    }

    /// The configurations.
    pub fn configurations(&self) -> &Configurations {
        &self.configurations
    }

    /// The configurations, to change.
    pub fn configurations_mut(&mut self) -> &mut Configurations {
        &mut self.configurations
    }

    /// The signature cache.
    pub fn cache(&self) -> &SignatureCache {
        &self.cache
    }

    /// Issues a nonce for `device` of `org` to sign.
    pub fn issue_nonce(
        &self,
        org: &str,
        device: &str,
        now: OffsetDateTime,
    ) -> Result<Nonce, NonceError> {
        self.nonces.issue(
            &Binding {
                org,
                device,
                purpose: PURPOSE,
            },
            now,
        )
    }

    /// The desktop check: the chain against each active configuration for
    /// the platform (first that attests wins), and the nonce proof with the
    /// leaf's key. The nonce is consumed whatever the chain's outcome.
    pub fn attest_desktop(&self, request: &DesktopRequest<'_>, now: OffsetDateTime) -> Outcome {
        let verifier = ChainVerifier::new(&self.options, self.backend).with_cache(&self.cache);
        let evidence = DesktopEvidence {
            leaf: request.leaf,
            intermediates: request.intermediates,
            device_id: Some(request.device_id),
            hardware_id: request.hardware_id,
        };
        let mut reasons = Vec::new();
        let mut attested = None;
        let mut any = false;
        for config in self.configurations.active_for(request.platform) {
            let ConfigurationKind::Desktop(trust) = &config.kind else {
                continue;
            };
            any = true;
            match trust.check(&verifier, &evidence, now) {
                Ok(_) => {
                    attested = Some(config.id);
                    break;
                }
                Err(errors) => reasons.extend(errors.into_iter().map(|error| Reason {
                    configuration_id: Some(config.id),
                    error,
                })),
            }
        }
        if !any {
            reasons.push(Reason {
                configuration_id: None,
                error: CheckError::NoConfiguration {
                    platform: request.platform,
                },
            });
        }
        let binding = Binding {
            org: request.org,
            device: request.device_id,
            purpose: PURPOSE,
        };
        let presented = Presented {
            nonce: request.nonce,
            binding,
            proof: request.proof,
            key: request.leaf.public_key(),
        };
        if let Err(e) = self
            .nonces
            .verify(&presented, &self.options.key_policy, self.backend, now)
        {
            reasons.push(Reason {
                configuration_id: None,
                error: e.into(),
            });
        }
        // Reasons tied to a configuration are from entries tried before the
        // one that attested; a reason tied to none (the nonce) refuses outright.
        let nonce_ok = reasons.iter().all(|r| r.configuration_id.is_some());
        match attested {
            Some(configuration_id) if nonce_ok => Outcome::Managed {
                configuration_id,
                platform: request.platform,
                previous_key: false,
            },
            _ => Outcome::NotManaged {
                reasons,
                enrollment: Vec::new(),
            },
        }
    }

    /// The mobile check: the presented `managementHint` against each active
    /// configuration for the platform.
    pub fn attest_mobile(&self, platform: Platform, hint: &str, now: OffsetDateTime) -> Outcome {
        let mut reasons = Vec::new();
        let mut enrollment = Vec::new();
        for config in self.configurations.active_for(platform) {
            let ConfigurationKind::Mobile(mobile) = &config.kind else {
                continue;
            };
            match mobile.hint().check(hint, now) {
                Some(matched) => {
                    return Outcome::Managed {
                        configuration_id: config.id,
                        platform,
                        previous_key: matched == HintMatch::Previous,
                    };
                }
                None => {
                    reasons.push(Reason {
                        configuration_id: Some(config.id),
                        error: CheckError::HintMismatch,
                    });
                    enrollment.push(Enrollment {
                        configuration_id: config.id,
                        provider_name: mobile.provider_name.clone(),
                        enrollment_link: mobile.enrollment_link.clone(),
                    });
                }
            }
        }
        if reasons.is_empty() {
            reasons.push(Reason {
                configuration_id: None,
                error: CheckError::NoConfiguration { platform },
            });
        }
        Outcome::NotManaged {
            reasons,
            enrollment,
        }
    }
}
