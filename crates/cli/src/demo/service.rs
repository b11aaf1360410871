//! The demo's service: started in process on an ephemeral loopback port
//! with a temporary data folder, served on its own runtime thread.

use std::path::Path;
use std::thread::JoinHandle;

use devicetrust_pki::Backend;
use devicetrust_server::{api, ops};
use devicetrust_service::{DataDir, Service, ServiceOptions};
use tokio::sync::oneshot;
use zeroize::Zeroizing;

use crate::CliError;

pub(crate) struct Running {
    pub(crate) base_url: String,
    pub(crate) admin_token: Zeroizing<String>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<Result<(), String>>>,
}

pub(crate) fn start(dir: &Path, backend: &'static dyn Backend) -> Result<Running, CliError> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(CliError::failed)?;
    listener.set_nonblocking(true).map_err(CliError::failed)?;
    let addr = listener.local_addr().map_err(CliError::failed)?;
    let base_url = format!("http://{addr}");
    let options = ServiceOptions {
        base_url: base_url.clone(),
        ..ServiceOptions::default()
    };
    let opened = Service::open(DataDir::new(dir), backend, options).map_err(CliError::failed)?;
    let admin_token = opened
        .admin_token
        .ok_or_else(|| CliError::failed("a fresh data folder should yield an admin token"))?;
    let router = api::router(opened.service);
    let (stop, stopped) = oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        runtime.block_on(async move {
            let listener =
                tokio::net::TcpListener::from_std(listener).map_err(|e| e.to_string())?;
            ops::serve_until(listener, router, ops::ListenOptions::default(), async {
                let _ = stopped.await;
            })
            .await
            .map_err(|e| e.to_string())
        })
    });
    Ok(Running {
        base_url,
        admin_token,
        stop: Some(stop),
        thread: Some(thread),
    })
}

impl Running {
    /// Stops the service, letting requests in flight finish.
    pub(crate) fn stop(mut self) -> Result<(), CliError> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<(), CliError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(Err(e))) => Err(CliError::failed(e)),
            Some(Err(_)) => Err(CliError::failed("the service thread panicked")),
            _ => Ok(()),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}
