//! Two `devicetrust serve` processes on one PostgreSQL database behave as
//! one service: what is used once on one is refused on the other, and a
//! change made on one decides on the other at once; a SCEP request held on
//! one is approved on the other.
//!
//! Each test makes a deployment (`devicetrust init --database` on a fresh
//! database of the scratch cluster) and starts two replicas, one on the
//! data folder and one on a copy of it, as two machines would. Neither
//! writes to its folder: it could be mounted read-only.

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers: a failure is a failed test"
)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use devicetrust_pki::{KeyAlgorithm, PrivateKey, default_backend};
use serde_json::{Value, json};

#[path = "../crates/store/tests/support/postgres.rs"]
mod pg;

const BIN: &str = env!("CARGO_BIN_EXE_devicetrust");

/// One `devicetrust serve` process (killed when dropped), or, without
/// one, a client of the balancer in front of them.
struct Replica {
    child: Option<Child>,
    base: String,
    agent: ureq::Agent,
}

impl Drop for Replica {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// An answer: status and JSON body (`Null` when empty or not JSON).
struct Answer {
    status: u16,
    body: Value,
}

impl Replica {
    fn start(data: &Path, database: &str) -> Self {
        let (replica, started) = Self::spawn(data, Some(database), None);
        assert!(
            started.get("adminToken").is_none(),
            "a replica never mints the first token"
        );
        replica
    }

    /// `serve` on `data`, on PostgreSQL when `database` is given, else on
    /// the folder's SQLite; with the line it printed at start.
    fn spawn(data: &Path, database: Option<&str>, base_url: Option<&str>) -> (Self, Value) {
        let mut command = Command::new(BIN);
        command.args([
            "serve",
            "--data",
            data.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "127.0.0.1:0",
        ]);
        if let Some(base_url) = base_url {
            command.args(["--base-url", base_url]);
        }
        match database {
            Some(url) => command.env("DEVICETRUST_DATABASE_URL", url),
            None => command.env_remove("DEVICETRUST_DATABASE_URL"),
        };
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(match std::env::var_os("REPLICA_LOG") {
                Some(path) => Stdio::from(
                    std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(path)
                        .unwrap(),
                ),
                None => Stdio::null(),
            })
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        let started: Value = serde_json::from_str(&first)
            .unwrap_or_else(|e| panic!("serve did not start ({e}): {first:?}"));
        let replica = Self {
            child: Some(child),
            base: format!("http://{}", started["listening"].as_str().unwrap()),
            agent: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(Duration::from_secs(30)))
                .build()
                .into(),
        };
        (replica, started)
    }

    fn send(&self, method: &str, path: &str, auth: Option<&str>, body: &[u8]) -> Answer {
        let url = format!("{}{path}", self.base);
        let request = ureq::http::Request::builder()
            .method(method)
            .uri(&url)
            .header("content-type", "application/json");
        let request = match auth {
            Some(auth) => request.header("authorization", auth),
            None => request,
        };
        let mut response = match self.agent.run(request.body(body.to_vec()).unwrap()) {
            Ok(response) => response,
            // No answer at all (a peer that went away): status 0.
            Err(e) => {
                return Answer {
                    status: 0,
                    body: json!(e.to_string()),
                };
            }
        };
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        Answer {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
        }
    }

    fn admin(&self, token: &str, method: &str, path: &str, body: &Value) -> Answer {
        let bytes = if body.is_null() {
            Vec::new()
        } else {
            body.to_string().into_bytes()
        };
        self.send(method, path, Some(&format!("SSWS {token}")), &bytes)
    }
}

/// A deployment: a data folder and a database tied by `init`, its admin
/// token, and two replicas: A on the folder, B on a copy of it made right
/// after `init`, as on two machines.
struct Deployment {
    dir: tempfile::TempDir,
    database: String,
    token: String,
    a: Replica,
    b: Replica,
}

/// `devicetrust init` of `data` on `database`: the JSON it printed.
fn init(data: &Path, database: &str) -> Value {
    let out = Command::new(BIN)
        .args(["init", "--data", data.to_str().unwrap()])
        .env("DEVICETRUST_DATABASE_URL", database)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "init: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Copies the folder `from` to `to` (`cp -a`, modes kept).
fn copy_folder(from: &Path, to: &Path) {
    let ok = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap()
        .success();
    assert!(ok, "cp -a {} {}", from.display(), to.display());
}

/// Every file under `dir` with its bytes, to show a folder was not written to.
fn folder_contents(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(at) = pending.pop() {
        for entry in std::fs::read_dir(&at).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let name = path.strip_prefix(dir).unwrap().display().to_string();
                found.push((name, std::fs::read(&path).unwrap()));
            }
        }
    }
    found.sort();
    found
}

impl Deployment {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let database = pg::fresh_database();
        let printed = init(&data, &database);
        assert_eq!(printed["database"], "postgres", "{printed}");
        let token = printed["adminToken"].as_str().unwrap().to_owned();
        let copy = dir.path().join("copy");
        copy_folder(&data, &copy);
        let a = Replica::start(&data, &database);
        let b = Replica::start(&copy, &database);
        Self {
            dir,
            database,
            token,
            a,
            b,
        }
    }

    /// A's folder and B's copy.
    fn folders(&self) -> [std::path::PathBuf; 2] {
        [self.dir.path().join("data"), self.dir.path().join("copy")]
    }

    fn enrollment_token(&self, on: &Replica, user: &str) -> String {
        enrollment_token(on, &self.token, user)
    }
}

/// Mints an enrollment token for `user` on `on`, with admin token `admin`.
fn enrollment_token(on: &Replica, admin: &str, user: &str) -> String {
    let answer = on.admin(
        admin,
        "POST",
        &format!("/api/v1/users/{user}/enrollment-tokens"),
        &json!({}),
    );
    assert_eq!(answer.status, 201, "{}", answer.body);
    answer.body["token"].as_str().unwrap().to_owned()
}

/// A device's key, and its registration body for `token`.
fn registration(token: &str, key: &PrivateKey, udid: &str) -> Vec<u8> {
    let ts = time::OffsetDateTime::now_utc().unix_timestamp().to_string();
    let message = devicetrust_service::device_keys::registration_message(
        &ts,
        token,
        &key.public_key().fingerprint(),
    );
    let signer = default_backend().signer(key).unwrap();
    let signature = URL_SAFE_NO_PAD.encode(signer.sign(message.as_bytes()).unwrap());
    let pem = devicetrust_pki::encoding::to_pem("PUBLIC KEY", key.public_key().spki_der()).unwrap();
    json!({
        "enrollmentToken": token, "publicKey": pem,
        "keyProof": {"ts": ts, "signature": signature},
        "profile": {"displayName": "Alice's iPhone", "platform": "IOS", "udid": udid,
                    "osVersion": "17.4.1", "registered": true},
        "screenLockType": "BIOMETRIC"
    })
    .to_string()
    .into_bytes()
}

/// A registered device: its id and key.
struct Device {
    id: String,
    key: PrivateKey,
}

impl Device {
    fn register(deployment: &Deployment, on: &Replica, user: &str, udid: &str) -> Self {
        Self::register_with(on, &deployment.token, user, udid)
    }

    fn register_with(on: &Replica, admin: &str, user: &str, udid: &str) -> Self {
        let key = default_backend().generate(KeyAlgorithm::EcP256).unwrap();
        let token = enrollment_token(on, admin, user);
        let answer = on.send(
            "POST",
            "/device/v1/register",
            None,
            &registration(&token, &key, udid),
        );
        assert_eq!(answer.status, 201, "{}", answer.body);
        Self {
            id: answer.body["device"]["id"].as_str().unwrap().to_owned(),
            key,
        }
    }

    /// The `DeviceSignature` header of one request.
    fn signature(&self, method: &str, path: &str, body: &[u8]) -> String {
        let ts = time::OffsetDateTime::now_utc().unix_timestamp().to_string();
        let mut raw = [0u8; 18];
        getrandom::fill(&mut raw).unwrap();
        let nonce = URL_SAFE_NO_PAD.encode(raw);
        let message =
            devicetrust_service::device_keys::canonical_request(method, path, &ts, &nonce, body);
        let signer = default_backend().signer(&self.key).unwrap();
        let sig = URL_SAFE_NO_PAD.encode(signer.sign(message.as_bytes()).unwrap());
        format!(
            r#"DeviceSignature id="{}", ts="{ts}", nonce="{nonce}", sig="{sig}""#,
            self.id
        )
    }
}

/// A policy letting registered devices in, and denying everything else.
fn policy(access: &str) -> Value {
    json!({
      "policy": {"id": "rstreplicas", "name": "Replicas", "type": "ACCESS_POLICY", "status": "ACTIVE"},
      "rules": [
        {"id": "rulregistered", "name": "Registered devices", "priority": 1, "status": "ACTIVE",
         "conditions": {"device": {"registered": true}},
         "actions": {"appSignOn": {"access": access}}},
        {"id": "rulcatchall", "name": "Catch-all Rule", "priority": 99, "status": "ACTIVE",
         "system": true, "actions": {"appSignOn": {"access": "DENY"}}}
      ]
    })
}

fn decide(deployment: &Deployment, on: &Replica, device: &Device) -> String {
    let answer = on.admin(
        &deployment.token,
        "POST",
        "/api/v1/authorize",
        &json!({"policyId": "rstreplicas", "userId": "alice", "groups": ["Everyone"],
                "deviceId": device.id}),
    );
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.body["access"].as_str().unwrap().to_owned()
}

#[test]
fn one_enrollment_token_sent_to_both_replicas_at_once_registers_one_device() {
    let deployment = Deployment::start();
    let token = deployment.enrollment_token(&deployment.a, "alice");
    let key = default_backend().generate(KeyAlgorithm::EcP256).unwrap();
    let body = registration(&token, &key, "UDID-RACE");
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let racers: Vec<_> = (0..20)
            .map(|i| {
                let on = if i % 2 == 0 {
                    &deployment.a
                } else {
                    &deployment.b
                };
                let body = &body;
                scope.spawn(move || on.send("POST", "/device/v1/register", None, body).status)
            })
            .collect();
        racers.into_iter().map(|r| r.join().unwrap()).collect()
    });
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 201 || (400..500).contains(s)),
        "{statuses:?}"
    );
    let listed = deployment
        .b
        .admin(&deployment.token, "GET", "/api/v1/devices", &Value::Null);
    assert_eq!(listed.status, 200);
    assert_eq!(listed.body.as_array().unwrap().len(), 1, "{}", listed.body);
}

#[test]
fn a_request_nonce_used_on_one_replica_is_refused_on_the_other() {
    let deployment = Deployment::start();
    let device = Device::register(&deployment, &deployment.a, "alice", "UDID-1");
    let header = device.signature("POST", "/device/v1/nonce", b"{}");
    let first = deployment
        .a
        .send("POST", "/device/v1/nonce", Some(&header), b"{}");
    assert_eq!(first.status, 200, "{}", first.body);
    let replayed = deployment
        .b
        .send("POST", "/device/v1/nonce", Some(&header), b"{}");
    assert_eq!(replayed.status, 401, "{}", replayed.body);
    // A fresh signature is accepted there: the refusal was the replay.
    let fresh = device.signature("POST", "/device/v1/nonce", b"{}");
    let again = deployment
        .b
        .send("POST", "/device/v1/nonce", Some(&fresh), b"{}");
    assert_eq!(again.status, 200, "{}", again.body);
}

/// A deployment whose replica A has the test policy and a device
/// registered, which replica B lets in.
fn allowed_device(udid: &str) -> (Deployment, Device) {
    let deployment = Deployment::start();
    let created = deployment.a.admin(
        &deployment.token,
        "POST",
        "/api/v1/policies",
        &policy("ALLOW"),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let device = Device::register(&deployment, &deployment.a, "alice", udid);
    assert_eq!(decide(&deployment, &deployment.b, &device), "ALLOW");
    (deployment, device)
}

#[test]
fn a_suspend_on_one_replica_denies_the_next_decision_on_the_other() {
    let (deployment, device) = allowed_device("UDID-2");
    let (a, b) = (&deployment.a, &deployment.b);
    let suspended = a.admin(
        &deployment.token,
        "POST",
        &format!("/api/v1/devices/{}/lifecycle/suspend", device.id),
        &Value::Null,
    );
    assert_eq!(suspended.status, 204, "{}", suspended.body);
    assert_eq!(decide(&deployment, b, &device), "DENY");
}

/// Runs `devicetrust ARGS` against the deployment's database (and no
/// folder); the JSON it printed.
fn cli_on(deployment: &Deployment, args: &[&str]) -> Value {
    let out = Command::new(BIN)
        .args(args)
        .env("DEVICETRUST_DATABASE_URL", &deployment.database)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The command line reads and changes a shared deployment, not an empty
/// SQLite database in some folder, and the replicas see its changes.
#[test]
fn the_command_line_works_on_the_shared_database() {
    let (deployment, device) = allowed_device("UDID-CLI");
    let shown = cli_on(
        &deployment,
        &["devices", "show", "--org", "default", "--id", &device.id],
    );
    assert_eq!(shown["device"]["status"], "ACTIVE", "{shown}");
    let suspended = cli_on(
        &deployment,
        &["devices", "suspend", "--org", "default", "--id", &device.id],
    );
    assert_eq!(suspended["device"]["status"], "SUSPENDED", "{suspended}");
    assert_eq!(decide(&deployment, &deployment.b, &device), "DENY");

    // A platform added from the command line (on A's folder) is served by B.
    let folder = deployment.folders()[0].clone();
    let added = cli_on(
        &deployment,
        &[
            "integrations",
            "add",
            "desktop",
            "--data",
            folder.to_str().unwrap(),
        ],
    );
    let id = added["id"].as_str().unwrap();
    let listed = cli_on(&deployment, &["integrations", "list"]);
    assert!(
        listed.as_array().unwrap().iter().any(|i| i["id"] == id),
        "{listed}"
    );
    let caps = deployment
        .b
        .send("GET", &format!("/scep/{id}?operation=GetCACaps"), None, b"");
    assert_eq!(caps.status, 200, "B serves the integration the CLI added");
}

#[test]
fn a_policy_changed_on_one_replica_decides_on_the_other_within_a_second() {
    let (deployment, device) = allowed_device("UDID-3");
    let (a, b) = (&deployment.a, &deployment.b);
    let replaced = a.admin(
        &deployment.token,
        "PUT",
        "/api/v1/policies/rstreplicas",
        &policy("DENY"),
    );
    assert_eq!(replaced.status, 200, "{}", replaced.body);
    let changed = Instant::now();
    while decide(&deployment, b, &device) != "DENY" {
        assert!(
            changed.elapsed() < Duration::from_secs(1),
            "the other replica still decides with the old policy"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn an_admin_token_rotated_on_one_replica_is_refused_on_the_other() {
    let deployment = Deployment::start();
    let (a, b) = (&deployment.a, &deployment.b);
    let rotated = a.admin(
        &deployment.token,
        "POST",
        "/api/v1/api-tokens/current/rotate",
        &json!({}),
    );
    assert_eq!(rotated.status, 201, "{}", rotated.body);
    let new = rotated.body["token"].as_str().unwrap();
    assert_eq!(
        b.admin(&deployment.token, "GET", "/api/v1/devices", &Value::Null)
            .status,
        401
    );
    assert_eq!(
        b.admin(new, "GET", "/api/v1/devices", &Value::Null).status,
        200
    );
}

/// Runs `devicetrust scep ARGS`: its exit code and the JSON it printed.
fn scep(args: &[&str]) -> (i32, Value) {
    let out = Command::new(BIN).arg("scep").args(args).output().unwrap();
    let printed = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "scep {args:?} printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), printed)
}

#[test]
fn a_scep_request_held_on_one_replica_is_approved_on_the_other_and_collected_on_the_first() {
    let deployment = Deployment::start();
    let (a, b, token) = (&deployment.a, &deployment.b, &deployment.token);
    let folders = deployment.folders().map(|f| folder_contents(&f));
    let created = a.admin(
        token,
        "POST",
        "/api/v1/device-integrations",
        &json!({
            "platform": "MACOS",
            "challenge": {"type": "STATIC"},
            "scep": {"manualApproval": true},
        }),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["id"].as_str().unwrap();
    let secret = created.body["secretKey"].as_str().unwrap();
    let work = tempfile::tempdir().unwrap();
    let key = work.path().join("device.key");
    let out = work.path().join("device.pem");
    let (key, out) = (key.to_str().unwrap(), out.to_str().unwrap());
    let url_a = format!("{}/scep/{id}", a.base);

    let (code, held) = scep(&[
        "enroll",
        "--url",
        &url_a,
        "--subject",
        "CN=held",
        "--challenge",
        secret,
        "--key",
        key,
        "--out",
        out,
    ]);
    assert_eq!((code, &held["status"]), (3, &json!("PENDING")), "{held}");
    let transaction = held["transactionId"].as_str().unwrap();

    let requests = format!("/api/v1/device-integrations/{id}/scep-requests");
    let listed = b.admin(token, "GET", &requests, &Value::Null);
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert_eq!(
        listed.body[0]["transactionId"], transaction,
        "{}",
        listed.body
    );
    let approve = format!("{requests}/{transaction}/lifecycle/approve");
    let approved = b.admin(token, "POST", &approve, &Value::Null);
    assert_eq!(approved.status, 200, "{}", approved.body);
    assert_eq!(
        a.admin(token, "POST", &approve, &Value::Null).status,
        404,
        "decided on B: no longer pending on A"
    );

    let (code, polled) = scep(&[
        "poll",
        "--url",
        &url_a,
        "--key",
        key,
        "--subject",
        "CN=held",
        "--out",
        out,
    ]);
    assert_eq!(
        (code, &polled["status"]),
        (0, &json!("SUCCESS")),
        "{polled}"
    );
    let issued = devicetrust_pki::Certificate::parse(&std::fs::read(out).unwrap()).unwrap();
    assert_eq!(
        issued.serial().unwrap().to_string(),
        approved.body["serialNumber"].as_str().unwrap()
    );
    assert_eq!(
        deployment.folders().map(|f| folder_contents(&f)),
        folders,
        "the key folders were not written to (they may be read-only)"
    );
}

/// B runs on a copy of the folder made before the integration existed: its
/// RA key reached B through the database, sealed with the data key.
#[test]
fn a_scep_integration_added_on_one_replica_enrolls_on_the_other() {
    let deployment = Deployment::start();
    let (a, b, token) = (&deployment.a, &deployment.b, &deployment.token);
    let folders = deployment.folders().map(|f| folder_contents(&f));
    let created = a.admin(
        token,
        "POST",
        "/api/v1/device-integrations",
        &json!({"platform": "WINDOWS", "challenge": {"type": "STATIC"}}),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["id"].as_str().unwrap();
    let work = tempfile::tempdir().unwrap();
    let key = work.path().join("device.key");
    let out = work.path().join("device.pem");
    let (code, enrolled) = scep(&[
        "enroll",
        "--url",
        &format!("{}/scep/{id}", b.base),
        "--subject",
        "CN=copy",
        "--challenge",
        created.body["secretKey"].as_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(
        (code, &enrolled["status"]),
        (0, &json!("SUCCESS")),
        "{enrolled}"
    );
    assert_eq!(
        deployment.folders().map(|f| folder_contents(&f)),
        folders,
        "the key folders were not written to (they may be read-only)"
    );
}

/// What `serve` or `init` prints on stderr when it refuses to start.
fn refused(command: &str, data: &Path, database: &str) -> String {
    let out = Command::new(BIN)
        .args([command, "--data", data.to_str().unwrap()])
        .args(if command == "serve" {
            &["--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"][..]
        } else {
            &[][..]
        })
        .env("DEVICETRUST_DATABASE_URL", database)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(!out.status.success(), "{command} started");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_folder_and_a_database_of_different_deployments_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (data, database) = (dir.path().join("data"), pg::fresh_database());
    init(&data, &database);

    // A second init on the database refuses before it creates anything.
    let second = dir.path().join("second");
    let why = refused("init", &second, &database);
    assert!(why.contains("already initialised"), "{why}");
    assert!(
        !second.exists(),
        "init created {} before refusing",
        second.display()
    );

    // Another deployment's folder: another CA.
    let other = dir.path().join("other");
    init(&other, &pg::fresh_database());
    let why = refused("serve", &other, &database);
    assert!(why.contains("another CA"), "{why}");

    // The right CA with another data key, or none.
    let copy = dir.path().join("copy");
    copy_folder(&data, &copy);
    std::fs::remove_file(copy.join("secrets.key")).unwrap();
    let why = refused("serve", &copy, &database);
    assert!(why.contains("has no secrets.key"), "{why}");
    std::fs::copy(other.join("secrets.key"), copy.join("secrets.key")).unwrap();
    let why = refused("serve", &copy, &database);
    assert!(why.contains("not this deployment's data key"), "{why}");
}

/// One CRL: whichever replica signed it, both serve it (the store-level
/// tests check that CRL numbers strictly increase across stores).
#[test]
fn both_replicas_serve_the_same_current_crl() {
    let deployment = Deployment::start();
    let crl = |on: &Replica| {
        let mut response = on
            .agent
            .get(&format!("{}/pki/crl", on.base))
            .call()
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        response
            .body_mut()
            .with_config()
            .limit(1 << 20)
            .read_to_vec()
            .unwrap()
    };
    let from_a = crl(&deployment.a);
    let from_b = crl(&deployment.b);
    assert_eq!(from_a, from_b, "the replicas serve different CRLs");
    let parsed = devicetrust_pki::Crl::from_der(&from_a).unwrap();
    assert!(parsed.number().is_some());
    assert_eq!(crl(&deployment.a), from_a, "re-signed without a change");
}

/// A throwaway cluster of this test's own, since it is taken down and up.
struct OwnCluster {
    url: String,
}

impl OwnCluster {
    fn start() -> Self {
        let out = Command::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scripts/postgres-scratch"
        ))
        .args(["start", "--watch", &std::process::id().to_string()])
        .output()
        .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self {
            url: String::from_utf8(out.stdout).unwrap().trim().to_owned(),
        }
    }

    fn server(&self, up: bool) {
        let status = Command::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scripts/postgres-scratch"
        ))
        .args([if up { "up" } else { "down" }, &self.url])
        .status()
        .unwrap();
        assert!(status.success());
    }
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        let _ = Command::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scripts/postgres-scratch"
        ))
        .args(["stop", &self.url])
        .status();
    }
}

/// PostgreSQL restarted under load: while it is down every request fails
/// fast with 503 and Okta's error object; once it is back both replicas
/// answer again by themselves, and every registration acknowledged before,
/// during or after the outage is there.
#[test]
fn a_database_outage_fails_fast_and_the_replicas_recover_by_themselves() {
    let cluster = OwnCluster::start();
    pg::psql(&cluster.url, "CREATE DATABASE outage");
    let database = format!("{}/outage", cluster.url.rsplit_once('/').unwrap().0);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let printed = init(&data, &database);
    let copy = dir.path().join("copy");
    copy_folder(&data, &copy);
    let deployment = Deployment {
        token: printed["adminToken"].as_str().unwrap().to_owned(),
        a: Replica::start(&data, &database),
        b: Replica::start(&copy, &database),
        dir,
        database,
    };

    let stop = std::sync::atomic::AtomicBool::new(false);
    let (acknowledged, failures) = std::thread::scope(|scope| {
        let load = scope.spawn(|| {
            register_until(&stop, &deployment.token, |i| {
                if i.is_multiple_of(2) {
                    &deployment.a
                } else {
                    &deployment.b
                }
            })
        });
        std::thread::sleep(Duration::from_millis(500));
        cluster.server(false);
        // Down: both replicas refuse at once, with Okta's error object.
        for on in [&deployment.a, &deployment.b] {
            let started = Instant::now();
            let answer = on.admin(&deployment.token, "GET", "/api/v1/devices", &Value::Null);
            assert_eq!(answer.status, 503, "{}", answer.body);
            assert!(answer.body["errorCode"].is_string(), "{}", answer.body);
            // The driver's message stays in the log.
            assert_eq!(
                answer.body["errorSummary"], "Service unavailable: try again shortly",
                "{}",
                answer.body
            );
            assert!(
                started.elapsed() < Duration::from_secs(2),
                "{:?}",
                started.elapsed()
            );
        }
        std::thread::sleep(Duration::from_millis(500));
        cluster.server(true);
        // Back: each replica answers again without a restart.
        for on in [&deployment.a, &deployment.b] {
            let since = Instant::now();
            while on
                .admin(&deployment.token, "GET", "/api/v1/devices", &Value::Null)
                .status
                != 200
            {
                assert!(since.elapsed() < Duration::from_secs(30), "no recovery");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        std::thread::sleep(Duration::from_millis(500));
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        load.join().unwrap()
    });
    assert!(!acknowledged.is_empty(), "the load made no registration");
    assert!(
        !failures.is_empty(),
        "the outage refused nothing: it did not happen"
    );
    for failure in &failures {
        assert_eq!(failure.status, 503, "{}", failure.body);
        assert!(
            failure.took < Duration::from_secs(5),
            "a refusal took {:?}",
            failure.took
        );
    }
    assert_all_there(&deployment, &deployment.a, &acknowledged);
}

/// A refused call of [`register_until`].
struct Failure {
    status: u16,
    body: Value,
    /// When it was answered.
    at: Instant,
    took: Duration,
}

/// Mints an enrollment token and registers a device with it, again and
/// again, on `on(i)` for the i-th time, until `stop`: the ids of the
/// registrations acknowledged, and the calls refused.
fn register_until<'a>(
    stop: &std::sync::atomic::AtomicBool,
    admin: &str,
    on: impl Fn(u32) -> &'a Replica,
) -> (Vec<String>, Vec<Failure>) {
    let mut acknowledged = Vec::new();
    let mut failures = Vec::new();
    let mut i = 0u32;
    let refused = |answer: Answer, started: Instant| Failure {
        status: answer.status,
        body: answer.body,
        at: Instant::now(),
        took: started.elapsed(),
    };
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        i += 1;
        let replica = on(i);
        let started = Instant::now();
        let minted = replica.admin(
            admin,
            "POST",
            "/api/v1/users/alice/enrollment-tokens",
            &json!({}),
        );
        if minted.status != 201 {
            failures.push(refused(minted, started));
            continue;
        }
        let key = default_backend().generate(KeyAlgorithm::EcP256).unwrap();
        let body = registration(
            minted.body["token"].as_str().unwrap(),
            &key,
            &format!("UDID-LOAD-{i}"),
        );
        let started = Instant::now();
        let registered = replica.send("POST", "/device/v1/register", None, &body);
        if registered.status == 201 {
            acknowledged.push(registered.body["device"]["id"].as_str().unwrap().to_owned());
        } else {
            failures.push(refused(registered, started));
        }
    }
    (acknowledged, failures)
}

/// Every acknowledged device can be read back, through `on`.
fn assert_all_there(deployment: &Deployment, on: &Replica, acknowledged: &[String]) {
    for id in acknowledged {
        let found = on.admin(
            &deployment.token,
            "GET",
            &format!("/api/v1/devices/{id}"),
            &Value::Null,
        );
        assert_eq!(
            found.status, 200,
            "acknowledged device {id} was lost: {}",
            found.body
        );
    }
}

/// HAProxy in front of the replicas, as `scripts/replicas` runs it.
struct Balancer {
    child: Child,
    base: String,
    agent: ureq::Agent,
    _config: tempfile::NamedTempFile,
}

impl Drop for Balancer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Balancer {
    fn start(replicas: &[&Replica]) -> Self {
        // HAProxy cannot report a port it picked: take a free one (the one
        // race left in this file, between this release and its bind).
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let servers: String = replicas
            .iter()
            .enumerate()
            .map(|(i, r)| {
                format!(
                    "  server r{i} {} check\n",
                    r.base.trim_start_matches("http://")
                )
            })
            .collect();
        let mut config = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(
            &mut config,
            format!(
                "defaults\n  mode http\n  timeout connect 1s\n  timeout client 30s\n  timeout server 30s\n  \
                 retries 2\n  option redispatch\n  retry-on conn-failure\n\
                 frontend devicetrust\n  bind 127.0.0.1:{port}\n  default_backend replicas\n\
                 backend replicas\n  balance roundrobin\n  option httpchk GET /healthz\n  \
                 default-server inter 200ms fall 2 rise 2\n{servers}"
            )
            .as_bytes(),
        )
        .unwrap();
        let child = Command::new("haproxy")
            .args(["-db", "-f", config.path().to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("haproxy (scripts/setup tests installs it)");
        let balancer = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            agent: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(Duration::from_secs(30)))
                .build()
                .into(),
            _config: config,
        };
        let since = Instant::now();
        while balancer
            .agent
            .get(&format!("{}/healthz", balancer.base))
            .call()
            .map_or(true, |r| r.status() != 200)
        {
            assert!(
                since.elapsed() < Duration::from_secs(10),
                "haproxy did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        balancer
    }

    /// The balancer as a replica-shaped client.
    fn client(&self) -> Replica {
        Replica {
            child: None,
            base: self.base.clone(),
            agent: self.agent.clone(),
        }
    }
}

/// A replica killed with SIGKILL under load, behind the balancer: requests
/// keep being answered by the other, and every registration acknowledged
/// is there afterwards.
#[test]
fn a_replica_killed_under_load_is_routed_around_and_loses_nothing() {
    let mut deployment = Deployment::start();
    let balancer = Balancer::start(&[&deployment.a, &deployment.b]);
    let front = balancer.client();
    let stop = std::sync::atomic::AtomicBool::new(false);
    let killed_at = std::sync::Mutex::new(None::<Instant>);
    let (acknowledged, failures) = std::thread::scope(|scope| {
        let load = scope.spawn(|| register_until(&stop, &deployment.token, |_| &front));
        std::thread::sleep(Duration::from_millis(700));
        // Child::kill is SIGKILL.
        deployment.a.child.as_mut().unwrap().kill().unwrap();
        *killed_at.lock().unwrap() = Some(Instant::now());
        std::thread::sleep(Duration::from_millis(2500));
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        load.join().unwrap()
    });
    let killed_at = killed_at.lock().unwrap().unwrap();
    // Only requests caught in flight around the kill may fail, as a
    // gateway error or a dropped connection; after the health check
    // noticed, none.
    for failure in &failures {
        assert!(
            matches!(failure.status, 0 | 502 | 503 | 504),
            "status {}: {}",
            failure.status,
            failure.body
        );
        let after = failure.at.duration_since(killed_at);
        assert!(
            after < Duration::from_secs(1),
            "a failure {after:?} after the kill"
        );
    }
    assert!(
        acknowledged.len() > 10,
        "only {} registrations",
        acknowledged.len()
    );
    assert_all_there(&deployment, &deployment.b, &acknowledged);
}

/// What an admin sees of a deployment: every listing of the admin API.
fn everything(on: &Replica, admin: &str, devices: &[&str]) -> Vec<(String, u16, Value)> {
    let mut paths: Vec<String> = [
        "/api/v1/devices?limit=200",
        "/api/v1/users/alice/devices",
        "/api/v1/users/bob/devices",
        "/api/v1/device-integrations",
        "/api/v1/policies",
        "/api/v1/device-assurances",
        "/api/v1/certificate-authorities",
        "/api/v1/logs?limit=1000",
    ]
    .iter()
    .map(|p| (*p).to_owned())
    .collect();
    for id in devices {
        paths.push(format!("/api/v1/devices/{id}"));
        paths.push(format!("/api/v1/devices/{id}/users"));
    }
    paths
        .into_iter()
        .map(|path| {
            let answer = on.admin(admin, "GET", &path, &Value::Null);
            (path, answer.status, answer.body)
        })
        .collect()
}

/// `devicetrust migrate` copies a real embedded deployment into PostgreSQL:
/// every admin API listing reads the same after, what was used once stays
/// used, and a second copy into the same database is refused.
#[test]
fn migrate_copies_an_embedded_deployment_to_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let base_url = "http://devicetrust.test";
    let (embedded, started) = Replica::spawn(&data, None, Some(base_url));
    let first = started["adminToken"].as_str().unwrap().to_owned();
    // A deployment with a bit of everything in it.
    let on = &embedded;
    let integration = on.admin(
        &first,
        "POST",
        "/api/v1/device-integrations",
        &json!({"platform": "MACOS", "ca": "OKTA", "challenge": {"type": "STATIC"}}),
    );
    assert_eq!(integration.status, 201, "{}", integration.body);
    let assurance = on.admin(
        &first,
        "POST",
        "/api/v1/device-assurances",
        &json!({"name": "iOS 17+", "platform": "IOS", "osVersion": {"minimum": "17.0"}}),
    );
    assert_eq!(assurance.status, 200, "{}", assurance.body);
    let created = on.admin(&first, "POST", "/api/v1/policies", &policy("ALLOW"));
    assert_eq!(created.status, 201, "{}", created.body);
    let devices = [
        Device::register_with(on, &first, "alice", "UDID-M1"),
        Device::register_with(on, &first, "alice", "UDID-M2"),
        Device::register_with(on, &first, "bob", "UDID-M3"),
    ];
    for (device, operation) in [(&devices[1], "suspend"), (&devices[2], "deactivate")] {
        let answer = on.admin(
            &first,
            "POST",
            &format!("/api/v1/devices/{}/lifecycle/{operation}", device.id),
            &Value::Null,
        );
        assert_eq!(answer.status, 204, "{}", answer.body);
    }
    let unused = enrollment_token(on, &first, "carol");
    let signed = devices[0].signature("POST", "/device/v1/nonce", b"{}");
    assert_eq!(
        on.send("POST", "/device/v1/nonce", Some(&signed), b"{}")
            .status,
        200
    );
    let rotated = on.admin(
        &first,
        "POST",
        "/api/v1/api-tokens/current/rotate",
        &json!({}),
    );
    assert_eq!(rotated.status, 201, "{}", rotated.body);
    let admin = rotated.body["token"].as_str().unwrap().to_owned();
    let ids: Vec<&str> = devices.iter().map(|d| d.id.as_str()).collect();
    let before = everything(on, &admin, &ids);
    assert!(
        before.iter().all(|(_, status, _)| *status == 200),
        "{before:?}"
    );
    drop(embedded);

    let database = pg::fresh_database();
    let migrate = |to: &str| {
        Command::new(BIN)
            .args(["migrate", "--from", data.to_str().unwrap(), "--to", to])
            .output()
            .unwrap()
    };
    let out = migrate(&database);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["copied"]["devices"], 3, "{report}");
    assert!(
        report["copied"]["audit_events"].as_u64().unwrap() > 3,
        "{report}"
    );

    let (replica, started) = Replica::spawn(&data, Some(&database), Some(base_url));
    assert!(started.get("adminToken").is_none(), "{started}");
    let after = everything(&replica, &admin, &ids);
    for ((path, status, body), (_, status_after, body_after)) in before.iter().zip(&after) {
        assert_eq!(status, status_after, "{path}");
        assert_eq!(body, body_after, "{path} reads differently after the copy");
    }
    // Used once stays used: the rotated token, the request nonce.
    assert_eq!(
        replica
            .admin(&first, "GET", "/api/v1/devices", &Value::Null)
            .status,
        401
    );
    assert_eq!(
        replica
            .send("POST", "/device/v1/nonce", Some(&signed), b"{}")
            .status,
        401
    );
    // The unused enrollment token still registers, once.
    let key = default_backend().generate(KeyAlgorithm::EcP256).unwrap();
    let body = registration(&unused, &key, "UDID-M4");
    assert_eq!(
        replica
            .send("POST", "/device/v1/register", None, &body)
            .status,
        201
    );
    assert_eq!(
        replica
            .send("POST", "/device/v1/register", None, &body)
            .status,
        401
    );
    drop(replica);
    // A second copy into a database that holds data is refused.
    let again = migrate(&database);
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("empty database"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
}
