//! `devicetrust load`: a bounded, loopback-only load of the whole service.
//!
//! It starts `devicetrust serve` as a child process on a temporary data
//! folder (so the server's memory is its own), sets up a macOS platform,
//! the demo's policies and a few registered, managed devices, then drives
//! SCEP enrollments and authorize calls together for a fixed count. It
//! reports throughput, p50/p99 per kind, errors, and the server's peak RSS.
//! Keys, requests and SCEP messages are made before the clock starts.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clap::Args;
use devicetrust_pki::scep::client::ScepClient;
use devicetrust_pki::scep::{PkiStatus, ScepPolicy};
use devicetrust_pki::{Backend, Certificate, KeyAlgorithm, RequestBuilder};
use serde_json::{Value, json};

use crate::CliError;
use crate::api_client::{Admin, Api, DeviceClient};
use crate::demo::policies;
use crate::flows;
use crate::http_transport::HttpTransport;
use crate::output::{percentile, print_json};

/// Options of `load`.
#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Requests in all (enrollments plus authorize calls).
    #[arg(long, default_value_t = 10_000)]
    pub count: usize,
    /// Concurrent clients.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// One request in this many is a SCEP enrollment; the rest are authorize calls.
    #[arg(long, default_value_t = 50)]
    pub enroll_every: usize,
    /// Distinct RSA keys the SCEP requests are made with (made before timing).
    #[arg(long, default_value_t = 8)]
    pub keys: usize,
    /// Set the server up, print one JSON line (`url`, the `authorization`
    /// header and the `authorize` bodies, one per device and policy), and
    /// keep it up until standard input closes, sending nothing: for another
    /// load generator (`scripts/bench-authorize-wrk`).
    #[arg(long)]
    pub hold: bool,
    /// Load a running deployment at this URL (the balancer in front of
    /// replicas) instead of starting a server; its admin token comes from
    /// the DEVICETRUST_ADMIN_TOKEN environment variable.
    #[arg(long)]
    pub url: Option<String>,
    /// With `--url`: where the deployment's `/metrics` is served (`serve
    /// --metrics-listen`), for the server's own view of its latency.
    #[arg(long, requires = "url")]
    pub metrics_url: Option<String>,
}

/// The environment variable `load --url` reads the admin token from.
pub const ADMIN_TOKEN_ENV: &str = "DEVICETRUST_ADMIN_TOKEN";

struct Server {
    child: Child,
    base_url: String,
    metrics_url: String,
    token: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        // SIGTERM first, so the server drains as it would in production.
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        for _ in 0..50 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server(dir: &std::path::Path, backend: &'static dyn Backend) -> Result<Server, CliError> {
    let exe = std::env::current_exe().map_err(CliError::failed)?;
    let mut child = Command::new(exe)
        .args([
            "--backend",
            backend.name(),
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "127.0.0.1:0",
            "--data",
        ])
        .arg(dir)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(CliError::failed)?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| CliError::failed("no stdout from serve"))?;
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .map_err(CliError::failed)?;
    let started: Value = serde_json::from_str(&line)
        .map_err(|e| CliError::failed(format!("serve said {line:?}: {e}")))?;
    let addr = started
        .get("listening")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let token = started
        .get("adminToken")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let metrics = started
        .get("metrics")
        .and_then(Value::as_str)
        .unwrap_or_default();
    Ok(Server {
        base_url: format!("http://{addr}"),
        metrics_url: format!("http://{metrics}"),
        token: token.to_owned(),
        child,
    })
}

/// Peak resident set of a process, from /proc (Linux), in KiB.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn percentile_us(sorted: &[Duration], p: f64) -> f64 {
    percentile(sorted, p).as_secs_f64() * 1e6
}

/// Mean handling time of `route` in a Prometheus exposition, in µs
/// (setup calls included, which are few).
fn server_mean_us(text: &str, route: &str) -> Option<f64> {
    let value = |metric: &str| {
        let prefix = format!("{metric}{{route=\"{route}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(prefix.as_str()))
            .and_then(|v| v.trim().parse::<f64>().ok())
    };
    let sum = value("devicetrust_http_request_duration_seconds_sum")?;
    let count = value("devicetrust_http_request_duration_seconds_count")?;
    (count > 0.0).then(|| sum / count * 1e6)
}

enum Work {
    Enroll(devicetrust_pki::scep::client::Prepared),
    Authorize(Vec<u8>),
}

pub(crate) fn run(args: &LoadArgs, backend: &'static dyn Backend) -> Result<(), CliError> {
    if args.count == 0 || args.concurrency == 0 || args.enroll_every == 0 {
        return Err(CliError::Usage(
            "--count, --concurrency and --enroll-every must be at least 1".into(),
        ));
    }
    let temp = tempfile::tempdir().map_err(CliError::failed)?;
    // A server of its own, unless pointed at a running deployment.
    let (local, base_url, token) = match &args.url {
        Some(url) => {
            let token = std::env::var(ADMIN_TOKEN_ENV).map_err(|_| {
                CliError::Usage(format!("--url needs the admin token in {ADMIN_TOKEN_ENV}"))
            })?;
            (None, url.trim_end_matches('/').to_owned(), token)
        }
        None => {
            let server = start_server(&temp.path().join("data"), backend)?;
            let (url, token) = (server.base_url.clone(), server.token.clone());
            (Some(server), url, token)
        }
    };
    let api = Api::new(&base_url);
    let admin = Admin::new(api.clone(), &token);

    // Setup: a platform, the demo's policies, and one managed Mac per client.
    let integration = admin
        .post(
            "/api/v1/device-integrations",
            &json!({"platform": "MACOS", "ca": "OKTA", "challenge": {"type": "STATIC"}}),
        )?
        .json();
    let scep_url = integration
        .get("scepUrl")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let secret = integration
        .get("secretKey")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    admin.post("/api/v1/device-assurances", &policies::macos_assurance())?;
    let mut policy_ids = Vec::new();
    for (_, policy) in policies::apps() {
        admin.post("/api/v1/policies", &policy)?;
        policy_ids.push(policy.pointer("/policy/id").cloned().unwrap_or(Value::Null));
    }
    let mut device_ids = Vec::new();
    for i in 0..args.concurrency {
        let udid = format!("LOAD-{i:04}");
        let mdm = flows::scep_enroll(backend, &scep_url, &secret, &udid)?;
        let mut device = DeviceClient::new(
            api.clone(),
            backend,
            backend.generate(KeyAlgorithm::EcP256)?,
        );
        flows::register(
            &admin,
            &mut device,
            &format!("user{i}"),
            json!({
                "displayName": format!("load Mac {i}"), "platform": "MACOS", "udid": udid, "registered": true,
                "osVersion": "14.5.0", "diskEncryptionType": "ALL_INTERNAL_VOLUMES"
            }),
        )?;
        flows::prove_desktop(backend, &device, &mdm)?;
        device.signed(
            "POST",
            "/device/v1/signals",
            Some(&json!({"wsc": {"antiVirus": "GOOD", "fireWall": "GOOD"}})),
        )?;
        device_ids.push((format!("user{i}"), device.id.clone().unwrap_or_default()));
    }

    // The decision for device `d` (its user) under policy `p`, both cycling.
    let authorize_body = |d: usize, p: usize| {
        let (user, device) = device_ids
            .get(d % device_ids.len().max(1))
            .cloned()
            .unwrap_or_default();
        let policy = policy_ids
            .get(p % policy_ids.len().max(1))
            .cloned()
            .unwrap_or(Value::Null);
        json!({"policyId": policy, "userId": user, "groups": ["Everyone"], "deviceId": device})
    };
    if args.hold {
        let bodies: Vec<Value> = (0..policy_ids.len())
            .flat_map(|p| (0..device_ids.len()).map(move |d| (d, p)))
            .map(|(d, p)| authorize_body(d, p))
            .collect();
        print_json(&json!({
            "url": base_url,
            "authorization": format!("SSWS {token}"),
            "authorize": bodies,
        }));
        // The server stops (on drop) once the caller closes our input.
        std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink())
            .map_err(CliError::failed)?;
        return Ok(());
    }

    // Every request is made before the clock starts.
    let client = ScepClient::connect(
        HttpTransport::new(&scep_url),
        backend,
        ScepPolicy::default(),
    )
    .map_err(CliError::failed)?;
    let mut keys = Vec::new();
    for i in 0..args.keys.max(1) {
        let key = backend.generate(KeyAlgorithm::RSA2048)?;
        let signer = backend.signer(&key)?;
        let subject = format!("CN=load-{i} managementAttestation LOAD-KEY-{i}");
        let csr = RequestBuilder::new(&subject)
            .challenge_password(&secret)
            .sign(signer.as_ref())?;
        let cert = Certificate::self_signed(&subject, signer.as_ref(), 1)?;
        keys.push((key, csr, cert));
    }
    let run = hex::encode(devicetrust_pki::SerialNumber::random()?.as_bytes());
    let mut work = Vec::with_capacity(args.count);
    for i in 0..args.count {
        if i % args.enroll_every == 0 {
            let Some((key, csr, cert)) = keys.get((i / args.enroll_every) % keys.len()) else {
                break;
            };
            work.push(Work::Enroll(
                client
                    .prepare(key, csr, cert, &format!("load-{run}-{i}"))
                    .map_err(CliError::failed)?,
            ));
        } else {
            work.push(Work::Authorize(
                authorize_body(i, i).to_string().into_bytes(),
            ));
        }
    }

    // The reference, on the same client and connection: an empty round
    // trip (`/healthz`), so the decision's own cost shows as a ratio.
    let mut floor = Vec::with_capacity(1000);
    for _ in 0..1000 {
        let t = Instant::now();
        api.call("GET", "/healthz", None, None, "")?;
        floor.push(t.elapsed());
    }
    floor.sort();

    let next = AtomicUsize::new(0);
    let header = format!("SSWS {token}");
    let started = Instant::now();
    let results: Vec<(Vec<Duration>, Vec<Duration>, usize)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..args.concurrency)
            .map(|_| {
                let api = api.clone();
                let (work, next, header, client) = (&work, &next, &header, &client);
                scope.spawn(move || {
                    let (mut authorize, mut enroll, mut errors) = (Vec::new(), Vec::new(), 0usize);
                    while let Some(item) = work.get(next.fetch_add(1, Ordering::Relaxed)) {
                        let t = Instant::now();
                        match item {
                            Work::Enroll(message) => {
                                let ok =
                                    matches!(client.send_prepared(message), Ok(PkiStatus::Success));
                                enroll.push(t.elapsed());
                                errors += usize::from(!ok);
                            }
                            Work::Authorize(body) => {
                                let answer = api.call(
                                    "POST",
                                    "/api/v1/authorize",
                                    Some(header),
                                    Some(body),
                                    "application/json",
                                );
                                authorize.push(t.elapsed());
                                errors += usize::from(!answer.is_ok_and(|a| a.ok()));
                            }
                        }
                    }
                    (authorize, enroll, errors)
                })
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    let elapsed = started.elapsed();
    let peak = local
        .as_ref()
        .and_then(|server| peak_rss_kib(server.child.id()));
    // The server's own view: time from request to response headers, from its histogram.
    let metrics_url = match &local {
        Some(server) => Some(server.metrics_url.clone()),
        None => args.metrics_url.clone(),
    };
    let server_mean_us = match metrics_url {
        Some(url) => {
            let exposition =
                Api::new(url.trim_end_matches('/')).call("GET", "/metrics", None, None, "")?;
            server_mean_us(
                &String::from_utf8_lossy(&exposition.body),
                "/api/v1/authorize",
            )
        }
        None => None,
    };
    let mut authorize: Vec<Duration> = results.iter().flat_map(|r| r.0.iter().copied()).collect();
    let mut enroll: Vec<Duration> = results.iter().flat_map(|r| r.1.iter().copied()).collect();
    let errors: usize = results.iter().map(|r| r.2).sum();
    authorize.sort();
    enroll.sort();
    let total = authorize.len() + enroll.len();
    #[expect(
        clippy::cast_precision_loss,
        reason = "request counts are far below 2^52"
    )]
    let throughput = total as f64 / elapsed.as_secs_f64().max(f64::EPSILON);
    print_json(&json!({
        "backend": backend.name(),
        "requests": total,
        "concurrency": args.concurrency,
        "errors": errors,
        "seconds": elapsed.as_secs_f64(),
        "throughputPerSecond": throughput,
        "authorize": {"count": authorize.len(), "p50Us": percentile_us(&authorize, 50.0), "p99Us": percentile_us(&authorize, 99.0), "serverMeanUs": server_mean_us},
        "healthz": {"p50Us": percentile_us(&floor, 50.0), "note": "an empty round trip on the same client, measured just before"},
        "enroll": {"count": enroll.len(), "p50Ms": percentile_us(&enroll, 50.0) / 1000.0, "p99Ms": percentile_us(&enroll, 99.0) / 1000.0},
        "serverPeakRssMiB": peak.map(|k| k / 1024),
    }));
    if errors > 0 {
        return Err(CliError::Failed(format!("{errors} request(s) failed")));
    }
    Ok(())
}
