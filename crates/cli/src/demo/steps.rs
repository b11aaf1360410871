//! The demo's ten steps, each over real HTTP against the running service.

use std::path::{Path, PathBuf};

use devicetrust_pki::{Backend, Crl, KeyAlgorithm};
use serde_json::{Value, json};

use super::Narrator;
use super::policies;
use super::progress::with_progress;
use crate::CliError;
use crate::api_client::{Admin, Answer, Api, CallError, DeviceClient};
use crate::flows::{self, text};

impl From<CallError> for CliError {
    fn from(e: CallError) -> Self {
        CliError::Failed(e.to_string())
    }
}

pub(crate) struct Story {
    api: Api,
    admin: Admin,
    /// The service's data folder, when it runs here.
    dir: Option<PathBuf>,
    backend: &'static dyn Backend,
}

fn random_hex(bytes: usize) -> String {
    let mut raw = vec![0u8; bytes];
    let _ = getrandom::fill(&mut raw);
    hex::encode_upper(raw)
}

impl Story {
    pub(crate) fn new(
        base_url: &str,
        admin_token: &str,
        dir: Option<PathBuf>,
        backend: &'static dyn Backend,
    ) -> Self {
        let api = Api::new(base_url);
        Self {
            admin: Admin::new(api.clone(), admin_token),
            api,
            dir,
            backend,
        }
    }

    fn decide(&self, policy: &Value, device: Option<&str>) -> Result<Answer, CliError> {
        let mut body = json!({
            "policyId": policy.pointer("/policy/id").cloned().unwrap_or(Value::Null),
            "userId": "alice", "groups": ["Everyone"]
        });
        if let (Some(id), Some(map)) = (device, body.as_object_mut()) {
            map.insert("deviceId".into(), json!(id));
        }
        Ok(self.admin.post("/api/v1/authorize", &body)?)
    }

    /// Evaluates every app and checks its access against `expected`.
    fn decide_all(
        &self,
        n: &mut Narrator,
        device: Option<&str>,
        expected: [&str; 3],
    ) -> Result<(), CliError> {
        for ((app, policy), want) in policies::apps().iter().zip(expected) {
            let answer = self.decide(policy, device)?;
            let d = answer.json();
            let access = text(&d, "/access");
            let rule = text(&d, "/rule/name");
            let factor = text(&d, "/verificationMethod/factorMode");
            let how = if factor.is_empty() {
                String::new()
            } else {
                format!(", {factor}")
            };
            if answer.ok() {
                n.say(&format!("{app}: {access} by rule {rule:?}{how}"));
            } else {
                n.say(&format!(
                    "{app}: HTTP {}: {}",
                    answer.status,
                    answer.summary()
                ));
            }
            if let Some(why) = first_unmet(&d).filter(|_| access == "DENY") {
                n.say(&format!("    because {why}"));
            }
            n.check(answer.ok() && access == want, &format!("{app} is {want}"));
        }
        Ok(())
    }

    /// Creates one of the demo's objects in `collection`, or replaces it
    /// when an earlier demo against the same deployment (`--url`) left it there.
    fn create_or_replace(
        &self,
        collection: &str,
        id: &str,
        body: &Value,
    ) -> Result<bool, CliError> {
        let created = self.admin.post(collection, body)?;
        if created.status != 409 {
            return Ok(created.ok());
        }
        Ok(self.admin.put(&format!("{collection}/{id}"), body)?.ok())
    }

    pub(crate) fn tell(&self, n: &mut Narrator) -> Result<(), CliError> {
        // 1
        n.step(
            "An admin adds a macOS platform: our CA, a static SCEP challenge, nothing uploaded.",
        );
        let created = self.admin.post(
            "/api/v1/device-integrations",
            &json!({"platform": "MACOS", "ca": "OKTA", "challenge": {"type": "STATIC"}}),
        )?;
        let integration = created.json();
        let scep_url = text(&integration, "/scepUrl");
        let secret = text(&integration, "/secretKey");
        if created.ok() {
            n.say(&format!("SCEP URL {scep_url}"));
        } else {
            n.say(&format!("HTTP {}: {}", created.status, created.summary()));
        }
        n.check(
            created.status == 201 && !scep_url.is_empty() && secret.len() >= 32,
            "the SCEP URL and a secret key of at least 128 bits are shown",
        );
        let again = self.admin.get(&format!(
            "/api/v1/device-integrations/{}",
            text(&integration, "/id")
        ))?;
        n.check(
            again.ok() && !String::from_utf8_lossy(&again.body).contains(&secret),
            "the secret key is shown once: reading the integration back does not show it",
        );
        match &self.dir {
            Some(dir) => {
                n.check(
                    private_mode(&dir.join("ca").join("intermediate.key"))
                        && private_mode(&dir.join("ca").join("root.key")),
                    "the CA's private keys are on disk with mode 0600",
                );
            }
            None => {
                n.say("the CA's private keys are on the service's machines, not checked from here")
            }
        }
        let intermediate = self.admin.get("/api/v1/pki/intermediate")?;
        n.check(
            intermediate.ok()
                && intermediate
                    .body
                    .starts_with(b"-----BEGIN CERTIFICATE-----"),
            "the admin downloads the intermediate certificate for the MDM",
        );
        let assurance = policies::macos_assurance();
        let mut stored = self.create_or_replace(
            "/api/v1/device-assurances",
            &text(&assurance, "/id"),
            &assurance,
        )?;
        for (_, policy) in policies::apps() {
            stored &=
                self.create_or_replace("/api/v1/policies", &text(&policy, "/policy/id"), &policy)?;
        }
        n.check(
            stored,
            "three apps' policies and a macOS device assurance are stored",
        );

        // 2
        n.step("The Mac's MDM enrolls through SCEP with the built-in client.");
        let udid = format!("{}-{}", random_hex(4), random_hex(6));
        let mdm = with_progress("SCEP enrollment (RSA-2048 key, PKCSReq)", || {
            flows::scep_enroll(self.backend, &scep_url, &secret, &udid)
        });
        let mdm = match mdm {
            Ok(m) => {
                n.say(&format!(
                    "issued {} serial {}",
                    m.cert.subject(),
                    m.cert.serial().map(|s| s.to_string()).unwrap_or_default()
                ));
                n.check(true, "the CA issued the Mac a certificate through SCEP");
                Some(m)
            }
            Err(e) => {
                n.check(
                    false,
                    &format!("the CA issued the Mac a certificate through SCEP ({e})"),
                );
                None
            }
        };
        let wrong = flows::scep_enroll(self.backend, &scep_url, "not-the-secret", &udid);
        n.check(
            wrong.is_err(),
            "a request with a wrong challenge is refused and nothing is issued",
        );

        // 3
        n.step("alice registers the Mac in Okta Verify and proves it is managed.");
        let ov_key = self.backend.generate(KeyAlgorithm::EcP256)?;
        let mut mac = DeviceClient::new(self.api.clone(), self.backend, ov_key);
        let registered = flows::register(
            &self.admin,
            &mut mac,
            "alice",
            json!({
                "displayName": "alice's MacBook Pro", "platform": "MACOS", "udid": udid, "registered": true,
                "osVersion": "14.5.0", "diskEncryptionType": "ALL_INTERNAL_VOLUMES",
                "secureHardwarePresent": true, "manufacturer": "Apple", "model": "MacBookPro18,3"
            }),
        )?;
        n.check(
            registered.status == 201 && mac.id.is_some(),
            "the device is registered, ACTIVE, bound to alice",
        );
        if !registered.ok() {
            n.say(&format!(
                "HTTP {}: {}",
                registered.status,
                registered.summary()
            ));
        }
        let device_id = mac.id.clone().unwrap_or_default();
        n.say(&format!("device {device_id}"));
        if let Some(m) = &mdm {
            let proof = flows::prove_desktop(self.backend, &mac, m)?;
            let managed = proof.0.json().get("managed") == Some(&Value::Bool(true));
            if !managed {
                n.say(&format!(
                    "HTTP {}: {}",
                    proof.0.status,
                    String::from_utf8_lossy(&proof.0.body)
                ));
            }
            n.check(
                managed,
                "the nonce signed with the SCEP certificate's key proves management",
            );
            let replay = mac.signed("POST", "/device/v1/management-proof", Some(&proof.1))?;
            n.check(
                replay.json().get("managed") != Some(&Value::Bool(true)),
                "the same signed nonce replayed is refused (and the latest proof is what counts)",
            );
            let fresh = flows::prove_desktop(self.backend, &mac, m)?;
            n.check(
                fresh.0.json().get("managed") == Some(&Value::Bool(true)),
                "a fresh nonce proves management again",
            );
        }
        let session = mac.signed(
            "POST",
            "/device/v1/sessions",
            Some(&json!({"userId": "alice"})),
        )?;
        n.check(session.ok(), "alice signs in with Okta Verify on the Mac");

        // 4
        n.step("The Mac reports Windows-Security-Center-style endpoint signals.");
        let signals = mac.signed(
            "POST",
            "/device/v1/signals",
            Some(&json!({"wsc": {"antiVirus": "GOOD", "fireWall": "GOOD", "autoUpdateSettings": "GOOD"}})),
        )?;
        n.check(signals.ok(), "the signals are accepted");

        // 5
        n.step("Three apps decide: low, medium and high sensitivity.");
        self.decide_all(n, Some(&device_id), ["ALLOW", "ALLOW", "ALLOW"])?;
        n.say("and from a browser with no registered device:");
        self.decide_all(n, None, ["ALLOW", "DENY", "DENY"])?;

        // 6
        n.step("The admin suspends the Mac.");
        let op = |name: &str| -> Result<Answer, CliError> {
            Ok(self.admin.post(
                &format!("/api/v1/devices/{device_id}/lifecycle/{name}"),
                &json!({}),
            )?)
        };
        n.check(op("suspend")?.ok(), "the device is SUSPENDED");
        let refused = mac.signed(
            "POST",
            "/device/v1/sessions",
            Some(&json!({"userId": "alice"})),
        )?;
        n.check(
            !refused.ok(),
            "Okta Verify can no longer sign alice in on it",
        );
        self.decide_all(n, Some(&device_id), ["ALLOW", "DENY", "DENY"])?;

        // 7
        n.step("The admin unsuspends it.");
        n.check(op("unsuspend")?.ok(), "the device is ACTIVE again");
        self.decide_all(n, Some(&device_id), ["ALLOW", "ALLOW", "ALLOW"])?;

        // 8
        n.step("The admin deactivates it.");
        n.check(op("deactivate")?.ok(), "the device is DEACTIVATED");
        if let Some(m) = &mdm {
            let crl = self.api.call("GET", "/pki/crl", None, None, "")?;
            let listed = Crl::parse(&crl.body)
                .ok()
                .zip(m.cert.serial().ok())
                .is_some_and(|(crl, serial)| crl.revocation(&serial).is_some());
            n.check(
                crl.ok() && listed,
                "its certificate is revoked and listed on the CRL",
            );
            let proof = flows::prove_desktop(self.backend, &mac, m)?;
            n.check(
                proof.0.json().get("managed") != Some(&Value::Bool(true)),
                "management attestation now fails",
            );
        }
        self.decide_all(n, Some(&device_id), ["ALLOW", "DENY", "DENY"])?;

        // 9
        n.step("The admin activates it: the device must enroll again.");
        n.check(op("activate")?.ok(), "the device is ACTIVE");
        let before = mac.signed(
            "POST",
            "/device/v1/sessions",
            Some(&json!({"userId": "alice"})),
        )?;
        n.check(
            !before.ok(),
            "alice cannot sign in with Okta Verify before enrolling again",
        );
        let again = flows::register(
            &self.admin,
            &mut mac,
            "alice",
            json!({
                "displayName": "alice's MacBook Pro", "platform": "MACOS", "udid": udid, "registered": true,
                "osVersion": "14.5.0", "diskEncryptionType": "ALL_INTERNAL_VOLUMES"
            }),
        )?;
        n.check(
            again.ok() && mac.id.as_deref() == Some(device_id.as_str()),
            "Okta Verify enrolls again: the same hardware, the same device",
        );
        let after = mac.signed(
            "POST",
            "/device/v1/sessions",
            Some(&json!({"userId": "alice"})),
        )?;
        n.check(after.ok(), "alice signs in with Okta Verify again");

        // 10
        n.step("An iPhone proves management with the managementHint its UEM pushed.");
        let ios = self.admin.post(
            "/api/v1/device-integrations",
            &json!({"platform": "IOS", "providerName": "Jamf Pro", "enrollmentLink": "https://jamf.example.com/enroll"}),
        )?;
        let hint = text(&ios.json(), "/managementHint/secretKey");
        n.check(
            ios.status == 201 && !hint.is_empty(),
            "the admin adds an iOS platform and copies its secret key to the UEM",
        );
        let phone_key = self.backend.generate(KeyAlgorithm::EcP256)?;
        let mut phone = DeviceClient::new(self.api.clone(), self.backend, phone_key);
        let reg = flows::register(
            &self.admin,
            &mut phone,
            "bob",
            json!({
                "displayName": "bob's iPhone", "platform": "IOS", "registered": true, "udid": format!("{}-{}", random_hex(4), random_hex(8)),
                "osVersion": "17.4"
            }),
        )?;
        n.check(reg.status == 201, "bob registers his iPhone");
        let right = phone.signed(
            "POST",
            "/device/v1/management-proof",
            Some(&json!({"managementHint": hint})),
        )?;
        n.check(
            right.json().get("managed") == Some(&Value::Bool(true)),
            "the right managementHint proves management",
        );
        let wrong = phone.signed(
            "POST",
            "/device/v1/management-proof",
            Some(&json!({"managementHint": "a-wrong-key"})),
        )?;
        n.check(
            wrong.ok() && wrong.json().get("managed") == Some(&Value::Bool(false)),
            "a wrong key is refused: the iPhone is not managed",
        );
        Ok(())
    }
}

/// The first condition that did not hold in a decision's explanation, if it says.
fn first_unmet(decision: &Value) -> Option<String> {
    let rules = decision.pointer("/explanation/rules")?.as_array()?;
    rules.iter().find_map(|rule| {
        let conditions = rule.get("conditions")?.as_array()?;
        conditions.iter().find_map(|c| {
            let status = c.get("status")?.as_str()?;
            (status != "MATCH").then(|| {
                format!(
                    "rule {:?}: {} is {status}",
                    rule.get("name").and_then(Value::as_str).unwrap_or_default(),
                    c.get("condition")
                        .and_then(Value::as_str)
                        .unwrap_or("a condition"),
                )
            })
        })
    })
}

#[cfg(unix)]
fn private_mode(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o777 == 0o600)
}

#[cfg(not(unix))]
fn private_mode(_: &Path) -> bool {
    true
}
