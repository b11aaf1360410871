//! The `attest nonce`, `attest prove` and `attest check-proof` command logic,
//! and input errors (exit code 2).

#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "test helpers: a panic is a failed test"
)]

use std::path::{Path, PathBuf};

use devicetrust_cli::commands::attest::{
    self as commands, CheckProofArgs, EXIT_INPUT, EXIT_OK, EXIT_REFUSED, VerifyArgs,
};

fn data(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../attestation/tests/data")
        .join(path)
}

const AT: &str = "2027-01-01T00:00:00Z";

fn check(nonce: &str, proof: &str, device: &str, at: &str) -> commands::Report {
    commands::check_proof(
        &CheckProofArgs {
            nonce_key: data("nonce.key"),
            org: "acme".into(),
            device: device.into(),
            cert: data("cases/valid-p256/leaf.pem"),
            nonce: nonce.into(),
            proof: proof.into(),
            at: Some(at.into()),
        },
        devicetrust_pki::default_backend(),
    )
}

#[test]
fn nonce_prove_and_check_from_the_command_line() {
    let issued = commands::issue_nonce(&data("nonce.key"), "acme", "dev-42", Some(AT));
    assert_eq!(issued.exit_code, EXIT_OK, "{}", issued.json);
    assert_eq!(issued.json["expiresAt"], "2027-01-01T00:05:00Z");
    let nonce = issued.json["nonce"].as_str().unwrap();
    let proof = commands::prove(
        &data("cases/valid-p256/leaf.key"),
        nonce,
        devicetrust_pki::default_backend(),
    );
    assert_eq!(proof.exit_code, EXIT_OK, "{}", proof.json);
    let proof = proof.json.to_string();
    assert_eq!(check(nonce, &proof, "dev-42", AT).exit_code, EXIT_OK);
    let other = check(nonce, &proof, "dev-43", AT);
    assert_eq!(other.exit_code, EXIT_REFUSED);
    assert_eq!(other.json["kind"], "nonce_wrong_device");
    let late = check(nonce, &proof, "dev-42", "2027-01-01T00:05:01Z");
    assert_eq!(late.json["kind"], "nonce_expired");
    // Signed by another device's key.
    let stolen = commands::prove(
        &data("cases/expired/leaf.key"),
        nonce,
        devicetrust_pki::default_backend(),
    );
    let stolen = check(nonce, &stolen.json.to_string(), "dev-42", AT);
    assert_eq!(stolen.json["kind"], "nonce_bad_signature");
}

#[test]
fn bad_input_exits_2() {
    let missing = data("no-such-file");
    assert_eq!(commands::upload_check(&missing).exit_code, EXIT_INPUT);
    assert_eq!(
        commands::issue_nonce(&missing, "acme", "dev-42", None).exit_code,
        EXIT_INPUT
    );
    // A nonce key file that is not 64 hex digits.
    assert_eq!(
        commands::issue_nonce(&data("cases/valid-p256/leaf.pem"), "acme", "d", None).exit_code,
        EXIT_INPUT
    );
    assert_eq!(check("n", "not json", "dev-42", AT).exit_code, EXIT_INPUT);
    let verify = |args: VerifyArgs| commands::verify(&args, devicetrust_pki::default_backend());
    assert_eq!(verify(VerifyArgs::default()).exit_code, EXIT_INPUT);
    // A trust file that is not a CA is an input error, not a refusal.
    let not_ca = verify(VerifyArgs {
        trust: vec![data("cases/valid-p256/leaf.pem")],
        cert: data("cases/valid-p256/leaf.pem"),
        at: Some(AT.into()),
        ..VerifyArgs::default()
    });
    assert_eq!(not_ca.exit_code, EXIT_INPUT, "{}", not_ca.json);
    let no_cert = verify(VerifyArgs {
        trust: vec![data("cases/valid-p256/trust.pem")],
        cert: missing,
        ..VerifyArgs::default()
    });
    assert_eq!(no_cert.exit_code, EXIT_INPUT);
}
