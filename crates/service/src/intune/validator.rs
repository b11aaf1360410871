//! The Intune SCEP validation service's three actions, in the shapes of
//! Microsoft's `IntuneScepServiceClient`: `POST {service}/ScepActions/{action}`
//! with a bearer token for the Intune resource, a fresh `client-request-id`,
//! an `api-version` header, and a JSON body; the answer is
//! `{"code": …, "errorDescription": …}`, and only the code `Success` means yes.
//!
//! ```text
//! validateRequest      {"request": {transactionId, certificateRequest, callerInfo}}
//! successNotification  {"notification": {transactionId, certificateRequest,
//!                        certificateThumbprint, certificateSerialNumber,
//!                        certificateExpirationDateUtc, issuingCertificateAuthority,
//!                        callerInfo, caConfiguration, certificateAuthority}}
//! failureNotification  {"notification": {transactionId, certificateRequest,
//!                        hResult, errorDescription, callerInfo}}
//! ```

use serde_json::{Value, json};
use zeroize::Zeroizing;

use super::IntuneError;
use super::http::{Http, json as parse_json};

/// The answer code meaning "valid" (or "noted").
pub const SUCCESS_CODE: &str = "Success";

/// One of the three actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    /// Before issuing: is this request one Intune asked for?
    Validate,
    /// After issuing.
    Success,
    /// After an admitted request failed.
    Failure,
}

impl Action {
    fn path(self) -> &'static str {
        match self {
            Self::Validate => "ScepActions/validateRequest",
            Self::Success => "ScepActions/successNotification",
            Self::Failure => "ScepActions/failureNotification",
        }
    }
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct ActionResult {
    code: String,
    #[serde(default)]
    error_description: Option<String>,
}

/// The body of `validateRequest`.
pub(crate) fn validate_body(transaction_id: &str, csr_b64: &str, caller: &str) -> Value {
    json!({
        "request": {
            "transactionId": transaction_id,
            "certificateRequest": csr_b64,
            "callerInfo": caller,
        }
    })
}

/// What `successNotification` reports about the issued certificate.
#[derive(Debug, Clone)]
pub(crate) struct IssuedInfo {
    /// SHA-1 of the certificate's DER, upper-case hex (as Windows shows thumbprints).
    pub(crate) thumbprint: String,
    /// Its serial number, upper-case hex.
    pub(crate) serial: String,
    /// Its notAfter, ISO 8601 UTC.
    pub(crate) expires: String,
    /// The issuer's distinguished name.
    pub(crate) issuer: String,
    /// The CA configuration string (ADCS's `host\CA name`; ours is configured).
    pub(crate) ca_configuration: String,
}

/// The body of `successNotification`.
pub(crate) fn success_body(
    transaction_id: &str,
    csr_b64: &str,
    caller: &str,
    info: &IssuedInfo,
) -> Value {
    json!({
        "notification": {
            "transactionId": transaction_id,
            "certificateRequest": csr_b64,
            "certificateThumbprint": info.thumbprint,
            "certificateSerialNumber": info.serial,
            "certificateExpirationDateUtc": info.expires,
            "issuingCertificateAuthority": info.issuer,
            "callerInfo": caller,
            "caConfiguration": info.ca_configuration,
            "certificateAuthority": info.issuer,
        }
    })
}

/// The body of `failureNotification`; the description is cut to the 255
/// characters the service accepts.
pub(crate) fn failure_body(
    transaction_id: &str,
    csr_b64: &str,
    caller: &str,
    hresult: u32,
    description: &str,
) -> Value {
    json!({
        "notification": {
            "transactionId": transaction_id,
            "certificateRequest": csr_b64,
            "hResult": i64::from(hresult),
            "errorDescription": description.chars().take(255).collect::<String>(),
            "callerInfo": caller,
        }
    })
}

/// Headers and URL of one call.
pub(crate) struct Call<'a> {
    /// The service's base URL.
    pub(crate) service_url: &'a str,
    /// The bearer token for the Intune resource.
    pub(crate) token: &'a Zeroizing<String>,
    /// The service's API version (`2018-02-20`).
    pub(crate) api_version: &'a str,
}

/// Posts `body` to `action`; `Ok` only if the service answers `Success`.
pub(crate) fn post(
    http: &Http,
    call: &Call<'_>,
    action: Action,
    body: &Value,
) -> Result<(), IntuneError> {
    let url = format!("{}/{}", call.service_url, action.path());
    let bearer = Zeroizing::new(format!("Bearer {}", call.token.as_str()));
    let request_id = super::request_id()?;
    let bytes = serde_json::to_vec(body).map_err(|_| IntuneError::Internal("json encoding"))?;
    let reply = http.post(
        &url,
        &[
            ("authorization", bearer.as_str()),
            ("client-request-id", &request_id),
            ("api-version", call.api_version),
        ],
        "application/json",
        &bytes,
    )?;
    let result: ActionResult = parse_json(&url, &reply)?;
    if result.code == SUCCESS_CODE {
        tracing::debug!(%url, request_id, "intune answered Success");
        Ok(())
    } else {
        Err(IntuneError::Refused {
            code: result.code.chars().take(64).collect(),
            description: result
                .error_description
                .unwrap_or_default()
                .chars()
                .take(255)
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_have_the_library_shapes() {
        let v = validate_body("TX", "Q1NS", "devicetrust/0");
        assert_eq!(
            v,
            json!({"request": {"transactionId": "TX", "certificateRequest": "Q1NS", "callerInfo": "devicetrust/0"}})
        );
        let long = "e".repeat(400);
        let f = failure_body("TX", "Q1NS", "c", 0x8000_4005, &long);
        assert_eq!(f["notification"]["hResult"], json!(2_147_500_037_i64));
        assert_eq!(
            f["notification"]["errorDescription"].as_str().map(str::len),
            Some(255)
        );
        // Sorted: serde_json keeps insertion order when another crate in the
        // build enables its preserve_order feature.
        let mut keys: Vec<&str> = f["notification"]
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "callerInfo",
                "certificateRequest",
                "errorDescription",
                "hResult",
                "transactionId"
            ]
        );
    }
}
