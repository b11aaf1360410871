//! The README's main job: `devicetrust demo` tells the whole story over
//! HTTP and exits 0 only if every expectation held.

use std::process::Command;

#[test]
fn the_demo_holds_every_expectation() {
    let out = Command::new(env!("CARGO_BIN_EXE_devicetrust"))
        .arg("demo")
        .output()
        .expect("the binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(!stdout.contains('✗'), "{stdout}");
    // Ten steps, each with at least one check.
    for step in 1..=10 {
        assert!(
            stdout.contains(&format!("\n{step}. ")),
            "step {step} missing:\n{stdout}"
        );
    }
    assert!(stdout.contains("checks in 10 steps held"), "{stdout}");
}

/// `demo --url` tells the same story against a deployment it did not start
/// (here one `serve`; `scripts/replicas` puts a balancer in front of two),
/// and again on the same deployment, which still holds the first run's objects.
#[test]
fn the_demo_holds_against_a_running_deployment_twice() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;

    let dir = tempfile::tempdir().expect("temporary folder");
    let mut serve = Command::new(env!("CARGO_BIN_EXE_devicetrust"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "127.0.0.1:0",
        ])
        .arg("--data")
        .arg(dir.path().join("data"))
        .env_remove("DEVICETRUST_DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("serve starts");
    let mut first = String::new();
    BufReader::new(serve.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("serve prints its address");
    let started: serde_json::Value = serde_json::from_str(&first).expect("a JSON line");
    let url = format!(
        "http://{}",
        started["listening"].as_str().expect("listening")
    );
    let token = started["adminToken"]
        .as_str()
        .expect("the first start's token");
    for run in 1..=2 {
        let out = Command::new(env!("CARGO_BIN_EXE_devicetrust"))
            .args(["demo", "--url", &url])
            .env("DEVICETRUST_ADMIN_TOKEN", token)
            .output()
            .expect("the binary runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "run {run}: {stdout}\n{stderr}");
        assert!(
            stdout.contains("checks in 10 steps held"),
            "run {run}: {stdout}"
        );
    }
    // The metrics are on their own listener, counting the demo's requests,
    // and not on the API's.
    let get = |url: &str| {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut answer = agent.get(url).call().expect("an answer");
        let text = answer.body_mut().read_to_string().unwrap_or_default();
        (answer.status().as_u16(), text)
    };
    let metrics = started["metrics"].as_str().expect("the metrics address");
    let (status, text) = get(&format!("http://{metrics}/metrics"));
    assert_eq!(status, 200);
    assert!(
        text.contains(r#"devicetrust_http_requests_total{route="/api/v1/authorize",method="POST",status="200"}"#),
        "{text}"
    );
    assert_eq!(get(&format!("{url}/metrics")).0, 404);
    let _ = serve.kill();
    let _ = serve.wait();
    let missing = Command::new(env!("CARGO_BIN_EXE_devicetrust"))
        .args(["demo", "--url", &url])
        .env_remove("DEVICETRUST_ADMIN_TOKEN")
        .output()
        .expect("the binary runs");
    assert_eq!(missing.status.code(), Some(2), "no token is a usage error");
}
