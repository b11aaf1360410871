//! The mobile managementHint: right key, wrong key, a key differing only in
//! letter case, and the old key inside and after a reset's grace period.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers: a panic is a failed test"
)]

use devicetrust_attestation::{Attestor, CheckError, Configurations, Outcome, Platform};
use time::{Duration, OffsetDateTime, macros::datetime};

const T0: OffsetDateTime = datetime!(2027-01-01 12:00:00 UTC);

fn setup() -> (Attestor, devicetrust_attestation::ConfigurationId, String) {
    let mut configurations = Configurations::new();
    let (id, secret) = configurations
        .add_mobile(
            Platform::Ios,
            "Workspace ONE",
            "https://enroll.example.com/ios",
        )
        .unwrap();
    let attestor = Attestor::new(configurations, devicetrust_pki::default_backend()).unwrap();
    (attestor, id, secret.expose().to_owned())
}

fn managed_by(outcome: &Outcome) -> Option<(u64, bool)> {
    match outcome {
        Outcome::Managed {
            configuration_id,
            previous_key,
            ..
        } => Some((configuration_id.0, *previous_key)),
        Outcome::NotManaged { .. } => None,
    }
}

#[test]
fn the_right_key_attests_and_a_wrong_one_gets_the_enrollment_link() {
    let (attestor, id, secret) = setup();
    assert_eq!(
        managed_by(&attestor.attest_mobile(Platform::Ios, &secret, T0)),
        Some((id.0, false))
    );
    let (_, _, other) = setup();
    match attestor.attest_mobile(Platform::Ios, &other, T0) {
        Outcome::NotManaged {
            reasons,
            enrollment,
        } => {
            assert!(matches!(reasons[0].error, CheckError::HintMismatch));
            assert_eq!(reasons[0].configuration_id, Some(id));
            assert_eq!(enrollment[0].provider_name, "Workspace ONE");
            assert_eq!(
                enrollment[0].enrollment_link,
                "https://enroll.example.com/ios"
            );
        }
        managed => panic!("{managed:?}"),
    }
    // Another platform has no configuration.
    let android = attestor.attest_mobile(Platform::Android, &secret, T0);
    assert_eq!(android.reasons()[0].error.kind(), "no_configuration");
}

#[test]
fn a_key_differing_only_in_letter_case_is_refused() {
    let (attestor, _, secret) = setup();
    let position = secret
        .find(|c: char| c.is_ascii_alphabetic())
        .expect("43 base64url characters include a letter");
    let mut swapped: Vec<char> = secret.chars().collect();
    let c = swapped[position];
    swapped[position] = if c.is_ascii_lowercase() {
        c.to_ascii_uppercase()
    } else {
        c.to_ascii_lowercase()
    };
    let swapped: String = swapped.into_iter().collect();
    assert_ne!(swapped, secret);
    assert!(swapped.eq_ignore_ascii_case(&secret));
    assert!(
        !attestor
            .attest_mobile(Platform::Ios, &swapped, T0)
            .is_managed()
    );
    assert!(
        !attestor
            .attest_mobile(Platform::Ios, &secret.to_uppercase(), T0)
            .is_managed()
    );
}

#[test]
fn after_a_reset_the_old_key_works_only_inside_the_grace_period() {
    let (mut attestor, id, old) = setup();
    let new = attestor
        .configurations_mut()
        .reset_secret(id, Some(Duration::hours(24)), T0)
        .unwrap();
    let new = new.expose().to_owned();
    assert_ne!(new, old);
    let inside = T0 + Duration::hours(23);
    let after = T0 + Duration::hours(24) + Duration::seconds(1);
    assert_eq!(
        managed_by(&attestor.attest_mobile(Platform::Ios, &old, inside)),
        Some((id.0, true))
    );
    assert_eq!(
        managed_by(&attestor.attest_mobile(Platform::Ios, &old, after)),
        None
    );
    assert_eq!(
        managed_by(&attestor.attest_mobile(Platform::Ios, &new, after)),
        Some((id.0, false))
    );
}

#[test]
fn a_reset_without_grace_ends_the_old_key_at_once() {
    let (mut attestor, id, old) = setup();
    let first = attestor
        .configurations_mut()
        .reset_secret(id, Some(Duration::hours(1)), T0)
        .unwrap()
        .expose()
        .to_owned();
    // A second reset without grace ends both earlier keys.
    let second = attestor
        .configurations_mut()
        .reset_secret(id, None, T0)
        .unwrap()
        .expose()
        .to_owned();
    assert!(!attestor.attest_mobile(Platform::Ios, &old, T0).is_managed());
    assert!(
        !attestor
            .attest_mobile(Platform::Ios, &first, T0)
            .is_managed()
    );
    assert!(
        attestor
            .attest_mobile(Platform::Ios, &second, T0)
            .is_managed()
    );
}

#[test]
fn inactive_configurations_and_desktop_resets_are_refused() {
    let (mut attestor, id, secret) = setup();
    attestor.configurations_mut().set_active(id, false).unwrap();
    assert!(
        !attestor
            .attest_mobile(Platform::Ios, &secret, T0)
            .is_managed()
    );
    let mut configurations = Configurations::new();
    assert!(
        configurations
            .add_mobile(Platform::Windows, "x", "https://x")
            .is_err()
    );
}

#[test]
fn an_enormous_grace_period_saturates_instead_of_overflowing() {
    let (mut attestor, id, old) = setup();
    attestor
        .configurations_mut()
        .reset_secret(id, Some(Duration::MAX), T0)
        .unwrap();
    let far = datetime!(9000-01-01 00:00:00 UTC);
    assert!(
        attestor
            .attest_mobile(Platform::Ios, &old, far)
            .is_managed()
    );
}
