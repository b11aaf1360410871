//! The bounded HTTP the Intune challenge speaks: one `ureq` agent with a
//! global timeout and no redirects, response bodies capped before any JSON
//! parsing, and errors sorted into "the peer said no" and "the peer is not
//! there".
//!
//! `https://` (Microsoft's endpoints) trusts the system's roots, or the
//! configuration's own bundle; see [`crate::http_client`].

use std::time::Duration;

use serde::de::DeserializeOwned;

use super::IntuneError;

/// A status code and a body read within the limit.
#[derive(Debug)]
pub(crate) struct Reply {
    /// The HTTP status.
    pub(crate) status: u16,
    /// The body (at most the configured limit).
    pub(crate) body: Vec<u8>,
}

/// One agent, one body limit.
#[derive(Debug, Clone)]
pub(crate) struct Http {
    agent: ureq::Agent,
    max_body: u64,
    user_agent: String,
}

impl Http {
    /// An agent whose every request (connect, send, read) ends within `timeout`.
    pub(crate) fn new(
        timeout: Duration,
        max_body: u64,
        user_agent: &str,
        roots: Option<std::sync::Arc<Vec<ureq::tls::Certificate<'static>>>>,
    ) -> Self {
        let agent = crate::http_client::agent(timeout, roots);
        Self {
            agent,
            max_body,
            user_agent: user_agent.to_owned(),
        }
    }

    /// POSTs `body` as `content_type` with extra `headers`.
    pub(crate) fn post(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        content_type: &str,
        body: &[u8],
    ) -> Result<Reply, IntuneError> {
        let mut request = self
            .agent
            .post(url)
            .header("user-agent", &self.user_agent)
            .header("content-type", content_type)
            .header("accept", "application/json");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        self.read(url, request.send(body))
    }

    /// GETs `url` with extra `headers`.
    pub(crate) fn get(&self, url: &str, headers: &[(&str, &str)]) -> Result<Reply, IntuneError> {
        let mut request = self
            .agent
            .get(url)
            .header("user-agent", &self.user_agent)
            .header("accept", "application/json");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        self.read(url, request.call())
    }

    fn read(
        &self,
        url: &str,
        response: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<Reply, IntuneError> {
        let mut response = response.map_err(|e| transport(url, &e))?;
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(self.max_body)
            .read_to_vec()
            .map_err(|e| match e {
                ureq::Error::BodyExceedsLimit(_) => IntuneError::TooLarge {
                    url: url.to_owned(),
                    limit: self.max_body,
                },
                other => transport(url, &other),
            })?;
        Ok(Reply { status, body })
    }
}

fn transport(url: &str, e: &ureq::Error) -> IntuneError {
    IntuneError::Transport {
        url: url.to_owned(),
        reason: e.to_string(),
    }
}

/// Parses a successful (2xx) reply as JSON; any other status is an error
/// that carries the status (the body is not echoed: it may be large or odd).
pub(crate) fn json<T: DeserializeOwned>(url: &str, reply: &Reply) -> Result<T, IntuneError> {
    if !(200..300).contains(&reply.status) {
        return Err(IntuneError::Status {
            url: url.to_owned(),
            status: reply.status,
        });
    }
    serde_json::from_slice(&reply.body).map_err(|e| IntuneError::BadJson {
        url: url.to_owned(),
        reason: e.to_string(),
    })
}
