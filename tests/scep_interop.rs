//! Real SCEP clients against `devicetrust serve`, and our client against a
//! real server: micromdm's `scepclient` (DES, SHA-1), strongSwan's
//! `pki --scep` (AES and 3DES), certmonger (AES-256, SHA-256, GET), and
//! micromdm's `scepserver` for `devicetrust scep enroll`.
//!
//! The tools come from Debian packages that `scripts/setup` installs. Set
//! `DEVICETRUST_SKIP_INTEROP=1` to skip these tests on a machine without them.

#![expect(
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers: a failure is a failed test"
)]

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_devicetrust");

fn tools_present(tools: &[&str]) -> bool {
    if std::env::var_os("DEVICETRUST_SKIP_INTEROP").is_some() {
        eprintln!("DEVICETRUST_SKIP_INTEROP is set: skipping");
        return false;
    }
    for tool in tools {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            found,
            "{tool} is not installed: run scripts/setup (or set DEVICETRUST_SKIP_INTEROP=1)"
        );
    }
    true
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn run(cmd: &mut Command) -> (bool, String) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn json_field(json: &str, field: &str) -> String {
    let v: serde_json::Value =
        serde_json::from_str(json.lines().next().unwrap_or_default()).unwrap();
    v[field].as_str().unwrap_or_default().to_owned()
}

/// `devicetrust serve` with one desktop configuration, killed on drop.
struct Served {
    child: Child,
    dir: tempfile::TempDir,
    id: String,
    url: String,
    integration: String,
}

impl Served {
    fn start(challenge: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let data = dir.path().join("data");
        let (ok, integration) = run(Command::new(BIN).args([
            "integrations",
            "add",
            "desktop",
            "--data",
            data.to_str().unwrap(),
            "--challenge",
            challenge,
            "--base-url",
            &format!("http://127.0.0.1:{port}"),
            "--allow-sha1",
            "--allow-des",
        ]));
        assert!(ok, "{integration}");
        let mut child = Command::new(BIN)
            .args([
                "serve",
                "--data",
                data.to_str().unwrap(),
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--metrics-listen",
                "127.0.0.1:0",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        assert!(first.contains("listening"), "{first}");
        let id = json_field(&integration, "id");
        // Capturing (see crates/pki/tests/data/scep/captures/README.md): the
        // server writes the traffic; keep the throw-away RA that decrypts it.
        if let Some(capture) = std::env::var_os("DEVICETRUST_SCEP_CAPTURE_DIR") {
            let capture = PathBuf::from(capture);
            std::fs::create_dir_all(&capture).unwrap();
            for ext in ["key", "pem"] {
                let name = format!("ra-{id}.{ext}");
                std::fs::copy(data.join(&name), capture.join(&name)).unwrap();
            }
        }
        Self {
            id,
            url: json_field(&integration, "scepUrl"),
            integration,
            child,
            dir,
        }
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn secret(&self) -> String {
        json_field(&self.integration, "secretKey")
    }

    fn ra_pem(&self) -> PathBuf {
        self.data().join(format!("ra-{}.pem", self.id))
    }

    /// `openssl verify` of an issued certificate against our chain.
    fn assert_issued(&self, cert: &Path) {
        let ca = self.data().join("ca");
        let (ok, text) = run(Command::new("openssl").args([
            "verify",
            "-CAfile",
            ca.join("root.pem").to_str().unwrap(),
            "-untrusted",
            ca.join("intermediate.pem").to_str().unwrap(),
            "-purpose",
            "sslclient",
            cert.to_str().unwrap(),
        ]));
        assert!(ok && text.contains(": OK"), "{text}");
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn sha256_of_pem_cert(pem: &Path) -> String {
    let der = Command::new("openssl")
        .args(["x509", "-in", pem.to_str().unwrap(), "-outform", "DER"])
        .output()
        .unwrap()
        .stdout;
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(der))
}

#[test]
fn micromdm_scepclient_enrolls_with_des_and_sha1() {
    if !tools_present(&["scepclient", "openssl"]) {
        return;
    }
    let served = Served::start("static");
    let work = tempfile::tempdir().unwrap();
    // scepclient encrypts to every certificate GetCACert returns and panics on
    // an EC one; the documented way is to pin the RA by its SHA-256.
    let (ok, text) = run(Command::new("scepclient").current_dir(work.path()).args([
        "-server-url",
        &served.url,
        "-challenge",
        &served.secret(),
        "-private-key",
        "key.pem",
        "-certificate",
        "cert.pem",
        "-cn",
        "micromdm-device",
        "-ca-fingerprint",
        &sha256_of_pem_cert(&served.ra_pem()),
    ]));
    assert!(ok, "{text}");
    served.assert_issued(&work.path().join("cert.pem"));

    // A wrong challenge is refused with badRequest and issues nothing.
    let again = tempfile::tempdir().unwrap();
    let (ok, text) = run(Command::new("scepclient").current_dir(again.path()).args([
        "-server-url",
        &served.url,
        "-challenge",
        "wrong",
        "-private-key",
        "key.pem",
        "-certificate",
        "cert.pem",
        "-ca-fingerprint",
        &sha256_of_pem_cert(&served.ra_pem()),
    ]));
    assert!(!ok && text.contains("badRequest"), "{text}");
    assert!(!again.path().join("cert.pem").exists());
}

#[test]
fn strongswan_pki_enrolls_with_aes_and_des3() {
    if !tools_present(&["pki", "openssl"]) {
        return;
    }
    let served = Served::start("static");
    let work = tempfile::tempdir().unwrap();
    let w = |f: &str| work.path().join(f).to_str().unwrap().to_owned();
    let (ok, text) = run(Command::new("pki").args([
        "--scepca",
        "--url",
        &served.url,
        "--caout",
        &w("ca.pem"),
        "--raout",
        &w("ra.pem"),
        "--outform",
        "pem",
    ]));
    assert!(ok, "{text}");
    let mut ca_files: Vec<String> = std::fs::read_dir(work.path())
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("ca"))
        })
        .map(|p| p.to_str().unwrap().to_owned())
        .collect();
    ca_files.sort();
    for cipher in ["aes", "des3"] {
        let key = w(&format!("key-{cipher}.pem"));
        let (ok, text) = run(Command::new("sh").args([
            "-c",
            &format!("pki --gen --type rsa --size 2048 --outform pem > {key}"),
        ]));
        assert!(ok, "{text}");
        let mut cmd = Command::new("pki");
        cmd.args([
            "--scep",
            "--url",
            &served.url,
            "--in",
            &key,
            "--dn",
            &format!("CN=strongswan-{cipher}"),
            "--password",
            &served.secret(),
            "--cacert-enc",
            &w("ra.pem"),
            "--cacert-sig",
            &w("ra.pem"),
            "--cipher",
            cipher,
            "--outform",
            "pem",
        ]);
        for ca in &ca_files {
            cmd.args(["--cacert", ca]);
        }
        let out = cmd.output().unwrap();
        let text = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{cipher}: {text}");
        let cert = work.path().join(format!("cert-{cipher}.pem"));
        std::fs::write(&cert, &out.stdout).unwrap();
        served.assert_issued(&cert);
    }
}

#[test]
fn certmonger_enrolls_over_get_with_aes256() {
    if !tools_present(&["certmonger", "getcert", "dbus-run-session", "openssl"]) {
        return;
    }
    let served = Served::start("static");
    let work = tempfile::tempdir().unwrap();
    let home = work.path();
    let script = format!(
        r#"set -e
export CERTMONGER_REQUESTS_DIR={home}/req CERTMONGER_CAS_DIR={home}/cas CERTMONGER_TMPDIR={home}/tmp HOME={home}
mkdir -p {home}/req {home}/cas {home}/tmp
certmonger -s -n > {home}/certmonger.log 2>&1 &
pid=$!
# certmonger may have exited already; a failed kill must not fail the script (set -e).
trap 'kill $pid 2>/dev/null || true' EXIT
for i in $(seq 1 50); do getcert list-cas -s >/dev/null 2>&1 && break; sleep 0.2; done
getcert add-scep-ca -s -c devicetrust -u '{url}'
getcert request -s -c devicetrust -k {home}/key.pem -f {home}/cert.pem -N CN=certmonger-device -L '{secret}' -I req1
for i in $(seq 1 60); do
  status=$(getcert list -s -i req1 | sed -n 's/^[[:space:]]*status: //p')
  case "$status" in MONITORING|CA_REJECTED|CA_UNREACHABLE|NEED_GUIDANCE) break;; esac
  sleep 1
done
getcert list -s -i req1
"#,
        home = home.display(),
        url = served.url,
        secret = served.secret(),
    );
    // The session bus may start certmonger itself (D-Bus activation) before
    // ours registers: it inherits the bus's environment, so that one too
    // keeps its state in the temporary folder, never in the user's.
    let (ok, text) = run(Command::new("dbus-run-session")
        .args(["--", "sh", "-c", &script])
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("CERTMONGER_REQUESTS_DIR", home.join("req"))
        .env("CERTMONGER_CAS_DIR", home.join("cas"))
        .env("CERTMONGER_TMPDIR", home.join("tmp")));
    assert!(ok && text.contains("status: MONITORING"), "{text}");
    served.assert_issued(&home.join("cert.pem"));
}

#[test]
fn our_client_enrolls_against_micromdm_scepserver() {
    if !tools_present(&["scepserver", "openssl"]) {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let depot = work.path().join("depot");
    let (ok, text) = run(Command::new("scepserver").args([
        "ca",
        "-init",
        "-keySize",
        "2048",
        "-depot",
        depot.to_str().unwrap(),
    ]));
    assert!(ok, "{text}");
    let port = free_port();
    let mut server = Command::new("scepserver")
        .args([
            "-depot",
            depot.to_str().unwrap(),
            "-port",
            &port.to_string(),
            "-challenge",
            "sekrit",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/scep");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "scepserver did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let cert = work.path().join("cert.pem");
    let (ok, text) = run(Command::new(BIN).args([
        "scep",
        "enroll",
        "--url",
        &url,
        "--subject",
        "CN=devicetrust-client",
        "--challenge",
        "sekrit",
        "--key",
        work.path().join("key.pem").to_str().unwrap(),
        "--out",
        cert.to_str().unwrap(),
    ]));
    let verified = run(Command::new("openssl").args([
        "verify",
        "-CAfile",
        depot.join("ca.pem").to_str().unwrap(),
        cert.to_str().unwrap(),
    ]));
    let _ = server.kill();
    let _ = server.wait();
    assert!(ok && text.contains("\"status\":\"SUCCESS\""), "{text}");
    assert!(verified.0, "{}", verified.1);
}

#[test]
fn dynamic_challenge_url_gives_one_time_challenges() {
    if !tools_present(&["openssl"]) {
        return;
    }
    let served = Served::start("dynamic");
    let challenge_url = json_field(&served.integration, "challengeUrl");
    let user = json_field(&served.integration, "username");
    let pass = json_field(&served.integration, "password");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let unauthorised = agent.get(&challenge_url).call().unwrap();
    assert_eq!(unauthorised.status(), 401);
    use base64::Engine;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
    let wrong = base64::engine::general_purpose::STANDARD.encode(format!("{user}:nope"));
    let refused = agent
        .get(&challenge_url)
        .header("authorization", &format!("Basic {wrong}"))
        .call()
        .unwrap();
    assert_eq!(refused.status(), 401);
    let mut page = agent
        .get(&challenge_url)
        .header("authorization", &format!("Basic {basic}"))
        .call()
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.body_mut().read_to_string().unwrap();
    // What NDES clients (Jamf's "Dynamic-Microsoft CA") scrape.
    let challenge = html
        .split("The enrollment challenge password is: <B> ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .unwrap()
        .to_owned();
    assert_eq!(challenge.len(), 32);

    let work = tempfile::tempdir().unwrap();
    let enroll = |name: &str| {
        run(Command::new(BIN).args([
            "scep",
            "enroll",
            "--url",
            &served.url,
            "--subject",
            &format!("CN={name}"),
            "--challenge",
            &challenge,
            "--key",
            work.path().join(format!("{name}.key")).to_str().unwrap(),
            "--out",
            work.path().join(format!("{name}.pem")).to_str().unwrap(),
        ]))
    };
    let (ok, text) = enroll("first");
    assert!(ok, "{text}");
    served.assert_issued(&work.path().join("first.pem"));
    let (ok, text) = enroll("second");
    assert!(!ok && text.contains("already used"), "{text}");
}

#[test]
fn http_refuses_unknown_operations_oversized_empty_and_garbage_bodies() {
    let served = Served::start("static");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let status_of =
        |r: Result<ureq::http::Response<ureq::Body>, ureq::Error>| r.unwrap().status().as_u16();

    assert_eq!(
        status_of(agent.get(&format!("{}?operation=Nope", served.url)).call()),
        400
    );
    assert_eq!(
        status_of(agent.get(&served.url).call()),
        400,
        "no operation"
    );
    assert_eq!(
        status_of(
            agent
                .get(&served.url.replace(&served.id, "unknown-id"))
                .call()
        ),
        404
    );
    let post = |body: Vec<u8>| {
        status_of(
            agent
                .post(&format!("{}?operation=PKIOperation", served.url))
                .header("content-type", "application/x-pki-message")
                .send(&body[..]),
        )
    };
    assert_eq!(post(vec![0x30; 70 * 1024]), 413, "over the 64 KiB limit");
    assert_eq!(post(Vec::new()), 400, "empty");
    assert_eq!(post(b"garbage".to_vec()), 400, "garbage");
    assert_eq!(post(vec![0x30, 0x80]), 400, "truncated");
    // The service is still up and answering.
    assert_eq!(
        status_of(
            agent
                .get(&format!("{}?operation=GetCACaps", served.url))
                .call()
        ),
        200
    );
}

#[test]
fn integrations_add_desktop_intune_prints_json_and_keeps_the_secret_apart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let secret_file = dir.path().join("client-secret.txt");
    let secret = "intune-client-secret-for-the-cli-test";
    std::fs::write(&secret_file, format!("{secret}\n")).unwrap();
    let add = |extra: &[&str], env: Option<&str>| {
        let mut cmd = Command::new(BIN);
        cmd.args([
            "integrations",
            "add",
            "desktop",
            "--data",
            data.to_str().unwrap(),
            "--challenge",
        ])
        .args(extra)
        .env_remove("DEVICETRUST_INTUNE_CLIENT_SECRET");
        if let Some(value) = env {
            cmd.env("DEVICETRUST_INTUNE_CLIENT_SECRET", value);
        }
        run(&mut cmd)
    };
    let tenant = ["--intune-tenant", "contoso.onmicrosoft.com"];
    let client = ["--intune-client-id", "11111111-2222-3333-4444-555555555555"];

    // From a file, and from the environment.
    let from_file = [
        &["intune"][..],
        &tenant,
        &client,
        &[
            "--intune-client-secret-file",
            secret_file.to_str().unwrap(),
            "--intune-service-url",
            "http://127.0.0.1:1/svc",
        ],
    ]
    .concat();
    let from_env = [&["intune"][..], &tenant, &client].concat();
    for (args, env) in [(from_file, None), (from_env, Some(secret))] {
        let (ok, out) = add(&args, env);
        assert!(ok, "{out}");
        let v: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
        assert_eq!(v["challenge"], "intune", "{out}");
        assert!(v["scepUrl"].as_str().unwrap().ends_with("/pkiclient.exe"));
        assert!(!out.contains(secret));
        let id = v["id"].as_str().unwrap();
        let stored = std::fs::read_to_string(data.join(format!("intune-{id}.secret"))).unwrap();
        assert_eq!(stored, secret, "the trailing line break is not part of it");
    }
    // The store holds the settings (the tenant) but never the secret.
    let mut stored = Vec::new();
    for entry in std::fs::read_dir(&data).unwrap() {
        let path = entry.unwrap().path();
        if path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("devices.sqlite3")
        {
            stored.extend(std::fs::read(&path).unwrap());
        }
    }
    let holds = |needle: &str| stored.windows(needle.len()).any(|w| w == needle.as_bytes());
    assert!(holds("contoso.onmicrosoft.com") && !holds(secret));
    let list = || {
        let out = Command::new(BIN)
            .args(["integrations", "list", "--data", data.to_str().unwrap()])
            .output()
            .unwrap();
        let listed = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success() && !listed.contains(secret), "{listed}");
        serde_json::from_str::<serde_json::Value>(&listed).unwrap()
    };
    assert_eq!(list().as_array().unwrap().len(), 2);

    // Missing pieces and misplaced options are refused, and nothing is added.
    let cases: [(&[&str], Option<&str>, &str); 4] = [
        (
            &["intune", "--intune-tenant", "t"],
            Some(secret),
            "--intune-client-id",
        ),
        (
            &["intune", "--intune-client-id", "c"],
            Some(secret),
            "--intune-tenant",
        ),
        (
            &["intune", "--intune-tenant", "t", "--intune-client-id", "c"],
            None,
            "DEVICETRUST_INTUNE_CLIENT_SECRET",
        ),
        (
            &["static", "--intune-tenant", "t"],
            None,
            "--challenge intune",
        ),
    ];
    for (args, env, expected) in cases {
        let (ok, out) = add(args, env);
        assert!(!ok && out.contains(expected), "{args:?}: {out}");
    }
    assert_eq!(list().as_array().unwrap().len(), 2);
}
