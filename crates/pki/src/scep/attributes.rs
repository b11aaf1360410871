//! SCEP's signed attributes (RFC 8894, section 3.2.1).
//!
//! ```text
//! id-VeriSign  OBJECT_IDENTIFIER ::= {2 16 US(840) 1 VeriSign(113733)}
//! id-pki       OBJECT_IDENTIFIER ::= {id-VeriSign pki(1)}
//! id-attributes OBJECT_IDENTIFIER ::= {id-pki attributes(9)}
//! id-messageType    OBJECT_IDENTIFIER ::= {id-attributes messageType(2)}    -- PrintableString
//! id-pkiStatus      OBJECT_IDENTIFIER ::= {id-attributes pkiStatus(3)}      -- PrintableString
//! id-failInfo       OBJECT_IDENTIFIER ::= {id-attributes failInfo(4)}       -- PrintableString
//! id-senderNonce    OBJECT_IDENTIFIER ::= {id-attributes senderNonce(5)}    -- OCTET STRING
//! id-recipientNonce OBJECT_IDENTIFIER ::= {id-attributes recipientNonce(6)} -- OCTET STRING
//! id-transactionID  OBJECT_IDENTIFIER ::= {id-attributes transId(7)}        -- PrintableString
//! id-failInfoText   OBJECT_IDENTIFIER ::= {id-pkix 24 1}                    -- UTF8String
//! ```

use std::fmt;

use const_oid::ObjectIdentifier;

use super::ScepError;

/// `id-messageType`.
pub const MESSAGE_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.113733.1.9.2");
/// `id-pkiStatus`.
pub const PKI_STATUS: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.113733.1.9.3");
/// `id-failInfo`.
pub const FAIL_INFO: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.113733.1.9.4");
/// `id-senderNonce`.
pub const SENDER_NONCE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.113733.1.9.5");
/// `id-recipientNonce`.
pub const RECIPIENT_NONCE: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("2.16.840.1.113733.1.9.6");
/// `id-transactionID`.
pub const TRANSACTION_ID: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("2.16.840.1.113733.1.9.7");
/// `id-failInfoText`.
pub const FAIL_INFO_TEXT: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.24.1");

macro_rules! printable_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $code:literal, $text:literal;)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        #[non_exhaustive]
        pub enum $name {
            $($(#[$vdoc])* #[serde(rename = $text)] $variant,)*
        }

        impl $name {
            /// The decimal code carried in the PrintableString.
            pub fn code(self) -> &'static str {
                match self { $(Self::$variant => $code,)* }
            }

            /// The name RFC 8894 uses.
            pub fn name(self) -> &'static str {
                match self { $(Self::$variant => $text,)* }
            }

            /// Parses the decimal code.
            pub fn from_code(code: &str) -> Result<Self, ScepError> {
                match code { $($code => Ok(Self::$variant),)* other => Err(ScepError::BadAttribute {
                    attribute: stringify!($name),
                    reason: format!("unknown value {:?}", other.chars().take(16).collect::<String>()),
                }) }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

printable_enum! {
    /// `messageType` (RFC 8894, section 3.2.1.2).
    MessageType {
        /// Response to any request.
        CertRep = "3", "CertRep";
        /// Renewal of an existing certificate.
        RenewalReq = "17", "RenewalReq";
        /// Certificate request.
        PkcsReq = "19", "PKCSReq";
        /// Poll for a pending request (GetCertInitial in older drafts).
        CertPoll = "20", "CertPoll";
        /// Retrieve a certificate by issuer and serial.
        GetCert = "21", "GetCert";
        /// Retrieve a CRL.
        GetCrl = "22", "GetCRL";
    }
}

printable_enum! {
    /// `pkiStatus` (RFC 8894, section 3.2.1.3).
    PkiStatus {
        /// Request granted.
        Success = "0", "SUCCESS";
        /// Request rejected.
        Failure = "2", "FAILURE";
        /// Request pending manual approval.
        Pending = "3", "PENDING";
    }
}

printable_enum! {
    /// `failInfo` (RFC 8894, section 3.2.1.4).
    FailInfo {
        /// Unrecognized or unsupported algorithm.
        BadAlg = "0", "badAlg";
        /// Integrity check (signature) failed.
        BadMessageCheck = "1", "badMessageCheck";
        /// Transaction not permitted or supported.
        BadRequest = "2", "badRequest";
        /// The signingTime attribute was not close enough to the system time.
        BadTime = "3", "badTime";
        /// No certificate could be identified matching the criteria.
        BadCertId = "4", "badCertId";
    }
}

/// Longest transaction ID accepted (RFC 8894 suggests a hash of the key: 64 hex digits or so).
pub const MAX_TRANSACTION_ID: usize = 128;

/// Nonce lengths accepted (RFC 8894: 16 octets; some clients use other lengths).
pub const NONCE_LEN: std::ops::RangeInclusive<usize> = 8..=64;
