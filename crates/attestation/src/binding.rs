//! Device binding: the device ID a certificate names must be the device's.
//!
//! An MDM writes the device ID into the certificate it requests: in the
//! subject common name, as the guide's `CN={EmailUserName} managementAttestation
//! {DeviceUid}` (the keyword in any letter case, as Intune's templates write
//! `ManagementAttestation`), or in the subjectAltName as a URI
//! `urn:devicetrust:device:{id}`. When the certificate names a device, it
//! must be exactly (case-sensitively) the device being attested; a
//! certificate that names none is not bound to one.

use devicetrust_pki::Certificate;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::ext::pkix::name::GeneralName;

use crate::CheckError;

/// The keyword before the device ID in the subject common name.
pub const CN_KEYWORD: &str = "managementAttestation";

/// The subjectAltName URI prefix before a device ID.
pub const SAN_URI_PREFIX: &str = "urn:devicetrust:device:";

/// Every device ID `cert` names, subject first.
pub fn device_ids(cert: &Certificate) -> Result<Vec<String>, CheckError> {
    let malformed = |source| CheckError::Malformed {
        what: "device binding",
        source,
    };
    let mut ids = Vec::new();
    for atv in cert.subject().iter() {
        if atv.oid != const_oid::db::rfc4519::COMMON_NAME {
            continue;
        }
        let Ok(cn) = x509_cert::ext::pkix::name::DirectoryString::try_from(&atv.value) else {
            continue;
        };
        let cn = String::from(cn);
        let mut words = cn.split_whitespace();
        while let Some(word) = words.next() {
            if word.eq_ignore_ascii_case(CN_KEYWORD)
                && let Some(id) = words.next()
            {
                ids.push(id.to_owned());
            }
        }
    }
    if let Some((_, san)) = cert.extension::<SubjectAltName>().map_err(malformed)? {
        for name in san.0 {
            if let GeneralName::UniformResourceIdentifier(uri) = name
                && let Some(id) = uri.as_str().strip_prefix(SAN_URI_PREFIX)
            {
                ids.push(id.to_owned());
            }
        }
    }
    Ok(ids)
}

/// Checks that every device ID `cert` names is `expected`.
pub fn check_binding(cert: &Certificate, expected: &str) -> Result<(), CheckError> {
    check_binding_to(cert, expected, None)
}

/// Checks that every device ID `cert` names is the device: its registry ID
/// `expected`, or `hardware_id`, the identifier its MDM knows it by (the
/// guide's `{DeviceUid}`: the UDID Jamf writes as `$UDID`, Intune's device
/// ID), which the MDM writes into the certificate before the device is
/// ever registered.
pub fn check_binding_to(
    cert: &Certificate,
    expected: &str,
    hardware_id: Option<&str>,
) -> Result<(), CheckError> {
    let ours = |id: &String| id == expected || hardware_id.is_some_and(|h| id == h);
    match device_ids(cert)?.into_iter().find(|id| !ours(id)) {
        Some(found) => Err(CheckError::DeviceMismatch {
            expected: expected.to_owned(),
            found,
        }),
        None => Ok(()),
    }
}
