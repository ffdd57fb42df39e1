//! The `http_request` tool: GET or POST to the hosts in `allowed_hosts` only, no redirects, and
//! at most `max_response_bytes` of the body read (the rest is never downloaded). One HTTP
//! client per tool, reused by every call.

use std::time::Duration;

use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use serde_json::{Value, json};

use crate::model::ToolSpec;
use crate::tool::{Tool, ToolContext, ToolError, string_arg};

/// `http_request`.
#[derive(Debug)]
pub struct HttpRequest {
    spec: ToolSpec,
    /// Hosts that may be called (`*.example.com` allowed).
    allowed_hosts: Vec<String>,
    /// Request timeout.
    timeout: Duration,
    /// Largest body returned.
    max_bytes: usize,
    /// Built once: no redirects, the request timeout.
    client: reqwest::Client,
}

impl HttpRequest {
    /// The tool for `allowed_hosts`.
    pub fn new(allowed_hosts: Vec<String>, timeout: Duration, max_bytes: usize) -> Self {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        HttpRequest {
            spec: ToolSpec {
                name: "http_request".into(),
                description: format!(
                    "Makes an HTTP GET or POST request to one of these hosts: {}. Returns the status and the body.",
                    allowed_hosts.join(", ")
                ),
                parameters: json!({"type": "object", "properties": {
                    "url": {"type": "string"}, "method": {"type": "string", "enum": ["GET", "POST"]}, "body": {"type": "string"}
                }, "required": ["url"]}),
            },
            allowed_hosts,
            timeout,
            max_bytes,
            client,
        }
    }
}

impl Tool for HttpRequest {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    fn timeout(&self) -> Duration {
        // The request's own timeout applies first; this only bounds a call that hangs anyway.
        self.timeout + Duration::from_secs(5)
    }

    fn call(&self, args: Value, _ctx: ToolContext) -> BoxFuture<'_, Result<String, ToolError>> {
        Box::pin(async move {
            let url = string_arg(&args, "url")?;
            let method = args.get("method").and_then(Value::as_str);
            let body = args.get("body").and_then(Value::as_str);
            request(&self.client, &self.allowed_hosts, self.max_bytes, url, method, body).await
        })
    }
}

fn host_allowed(host: &str, allowed: &[String]) -> bool {
    let host = host.to_ascii_lowercase();
    allowed.iter().any(|a| {
        let a = a.to_ascii_lowercase();
        match a.strip_prefix("*.") {
            Some(suffix) => host.ends_with(&format!(".{suffix}")),
            None => host == a,
        }
    })
}

async fn request(
    client: &reqwest::Client,
    allowed: &[String],
    max_bytes: usize,
    url: &str,
    method: Option<&str>,
    body: Option<&str>,
) -> Result<String, ToolError> {
    let invalid = |m: String| ToolError::InvalidArguments(m);
    let parsed = reqwest::Url::parse(url).map_err(|e| invalid(format!("invalid URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(invalid("only http and https URLs are allowed".into()));
    }
    let host = parsed.host_str().ok_or_else(|| invalid("the URL has no host".into()))?;
    if !host_allowed(host, allowed) {
        return Err(ToolError::Failed(format!(
            "the host `{host}` is not allowed; allowed hosts: {}",
            allowed.join(", ")
        )));
    }
    let req = match method.unwrap_or("GET").to_ascii_uppercase().as_str() {
        "GET" => client.get(parsed),
        "POST" => client.post(parsed).body(body.unwrap_or_default().to_string()),
        other => return Err(invalid(format!("method `{other}` is not allowed; use GET or POST"))),
    };
    let resp = req.send().await.map_err(|e| ToolError::Failed(format!("request failed: {e}")))?;
    let status = resp.status().as_u16();
    // Read at most `max_bytes`, then stop: the rest of a huge body is never downloaded.
    let mut bytes = Vec::with_capacity(max_bytes.min(64 * 1024));
    let mut cut = false;
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ToolError::Failed(format!("reading the body failed: {e}")))?;
        let room = max_bytes - bytes.len();
        if chunk.len() >= room {
            bytes.extend_from_slice(&chunk[..room]);
            cut = chunk.len() > room || stream.next().await.is_some();
            break;
        }
        bytes.extend_from_slice(&chunk);
    }
    let text = String::from_utf8_lossy(&bytes).into_owned();
    Ok(json!({"status": status, "body": text, "truncated": cut}).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_match_exactly_or_by_wildcard_suffix() {
        let allowed = vec!["api.example.com".to_string(), "*.example.org".to_string()];
        assert!(host_allowed("api.example.com", &allowed));
        assert!(host_allowed("API.EXAMPLE.COM", &allowed));
        assert!(host_allowed("a.b.example.org", &allowed));
        assert!(!host_allowed("example.org", &allowed));
        assert!(!host_allowed("evil.com", &allowed));
        assert!(!host_allowed("api.example.com.evil.com", &allowed));
    }

    #[tokio::test]
    async fn a_disallowed_host_is_refused_before_any_request() {
        let client = reqwest::Client::new();
        let r = request(&client, &["a.test".into()], 10, "http://b.test/x", None, None).await;
        assert!(r.unwrap_err().to_string().contains("not allowed"));
        let r = request(&client, &["a.test".into()], 10, "file:///etc/passwd", None, None).await;
        assert!(r.unwrap_err().to_string().contains("http"));
    }
}
