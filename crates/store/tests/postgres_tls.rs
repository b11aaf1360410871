//! TLS to PostgreSQL, against a real server that takes TCP connections over
//! TLS only (`scripts/postgres-scratch start --tls`, SCRAM passwords): a
//! verified connection works and is encrypted; another CA, another name, no
//! root given and clear text are all refused.
//!
//! The certificates are made here with `openssl` (commands below).

#![cfg(feature = "postgres")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers: a panic is a failed test"
)]

use std::path::{Path, PathBuf};
use std::process::Command;

use devicetrust_store::{Error, PostgresStore, Store};

fn openssl(args: &[&str], dir: &Path) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `NAME.pem` and `NAME.key`: a P-256 CA, self-signed, valid one day.
fn ca(dir: &Path, name: &str) -> PathBuf {
    let (key, pem) = (format!("{name}.key"), format!("{name}.pem"));
    openssl(
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &pem,
            "-subj",
            &format!("/CN={name}"),
            "-days",
            "1",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign",
        ],
        dir,
    );
    dir.join(pem)
}

/// `server.crt` and `server.key` for DNS name `localhost` only, signed by CA `ca`.
fn server_cert(dir: &Path, ca: &str) {
    openssl(
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ],
        dir,
    );
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            &format!("{ca}.pem"),
            "-CAkey",
            &format!("{ca}.key"),
            "-CAcreateserial",
            "-days",
            "1",
            "-out",
            "server.crt",
            "-extfile",
            "server.ext",
        ],
        dir,
    );
}

/// A scratch cluster that takes TCP over TLS only; removed when dropped.
struct TlsCluster {
    url: String,
    dir: String,
}

impl TlsCluster {
    fn start(certs: &Path) -> Self {
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../scripts/postgres-scratch"
        );
        let out = Command::new(script)
            .args(["start", "--tls"])
            .arg(certs.join("server.crt"))
            .arg(certs.join("server.key"))
            .args(["--watch", &std::process::id().to_string()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let printed = String::from_utf8(out.stdout).unwrap();
        let mut lines = printed.lines();
        Self {
            url: lines.next().unwrap().to_owned(),
            dir: lines.next().unwrap().to_owned(),
        }
    }

    /// Runs `sql` over the cluster's Unix socket; its one value.
    fn query(&self, sql: &str) -> String {
        let port = self
            .url
            .rsplit_once(':')
            .unwrap()
            .1
            .split('/')
            .next()
            .unwrap();
        let out = Command::new("psql")
            .args([
                "-h", &self.dir, "-p", port, "-U", "postgres", "-d", "postgres",
            ])
            .args(["-XAtc", sql])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }
}

impl Drop for TlsCluster {
    fn drop(&mut self) {
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../scripts/postgres-scratch"
        );
        let _ = Command::new(script).args(["stop", &self.dir]).status();
    }
}

fn refused(url: &str) -> String {
    match PostgresStore::open(url) {
        Ok(_) => panic!("{url} connected"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn tls_to_postgres_is_verified_or_refused() {
    let certs = tempfile::tempdir().unwrap();
    let root = ca(certs.path(), "ca");
    let other = ca(certs.path(), "other");
    server_cert(certs.path(), "ca");
    let cluster = TlsCluster::start(certs.path());
    let url = &cluster.url;

    let store = PostgresStore::open(&format!(
        "{url}?sslmode=verify-full&sslrootcert={}",
        root.display()
    ))
    .unwrap();
    store.read(|tx| tx.settings_document("absent")).unwrap();
    assert_eq!(
        cluster.query(
            "SELECT bool_and(s.ssl) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
             WHERE a.application_name = 'devicetrust'"
        ),
        "t",
        "every connection of the store is encrypted"
    );
    drop(store);

    let why = refused(&format!("{url}?sslrootcert={}", other.display()));
    assert!(why.contains("UnknownIssuer"), "another CA: {why}");
    let by_address = url.replace("@localhost:", "@127.0.0.1:");
    let why = refused(&format!("{by_address}?sslrootcert={}", root.display()));
    assert!(why.contains("not valid for name"), "another name: {why}");
    assert!(
        matches!(PostgresStore::open(url), Err(Error::Config { .. })),
        "TCP without a root to verify with is refused before connecting"
    );
    let why = refused(&format!("{url}?sslmode=disable"));
    assert!(why.contains("no encryption"), "clear text: {why}");
}
