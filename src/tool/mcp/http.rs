//! The SDK's streamable HTTP client (reqwest), with the budget stdio servers have
//! ([`lines::Flood`](super::lines::Flood)): requests and notifications a server sends unasked,
//! in the SSE stream of an answer or of its GET stream, pass within a token bucket each; the
//! excess events are dropped before the SDK sees them. Everything else, including the SDK's
//! size limits, is the reqwest client's.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use reqwest::header::{HeaderName, HeaderValue};
use rmcp::model::ClientJsonRpcMessage;
use rmcp::transport::streamable_http_client::{
    SseError, StreamableHttpClient, StreamableHttpError, StreamableHttpPostResponse, StreamableHttpResponseLimits,
};
use serde::Deserialize;
use serde::de::IgnoredAny;
use sse_stream::Sse;

use super::lines::Flood;

/// A reqwest client whose SSE streams are budgeted.
#[derive(Clone)]
pub(super) struct Budgeted {
    client: reqwest::Client,
    flood: Arc<Mutex<Flood>>,
}

impl Budgeted {
    pub(super) fn new(client: reqwest::Client, server: &str) -> Budgeted {
        Budgeted { client, flood: Arc::new(Mutex::new(Flood::new(server))) }
    }

    fn budget_answer(&self, r: StreamableHttpPostResponse) -> StreamableHttpPostResponse {
        match r {
            StreamableHttpPostResponse::Sse(s, id) => StreamableHttpPostResponse::Sse(self.budget(s), id),
            other => other,
        }
    }

    fn budget(&self, stream: BoxStream<'static, Result<Sse, SseError>>) -> BoxStream<'static, Result<Sse, SseError>> {
        let flood = self.flood.clone();
        stream
            .filter(move |event| {
                let pass = match event {
                    Ok(sse) => sse.data.as_deref().is_none_or(|data| admit(&flood, data)),
                    Err(_) => true,
                };
                std::future::ready(pass)
            })
            .boxed()
    }
}

/// The top-level keys that decide (serde reads escaped keys as the SDK does).
#[derive(Deserialize)]
struct Shape {
    method: Option<IgnoredAny>,
    id: Option<IgnoredAny>,
}

fn admit(flood: &Mutex<Flood>, data: &str) -> bool {
    let Ok(shape) = serde_json::from_str::<Shape>(data) else { return true };
    flood.lock().map(|mut f| f.admit(shape.method.is_some(), shape.id.is_some())).unwrap_or(true)
}

impl StreamableHttpClient for Budgeted {
    type Error = reqwest::Error;

    async fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<StreamableHttpPostResponse, StreamableHttpError<Self::Error>> {
        let r = self.client.post_message(uri, message, session_id, auth_header, custom_headers).await?;
        Ok(self.budget_answer(r))
    }

    async fn post_message_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Result<StreamableHttpPostResponse, StreamableHttpError<Self::Error>> {
        let r = self
            .client
            .post_message_with_max_sse_event_size(
                uri,
                message,
                session_id,
                auth_header,
                custom_headers,
                max_sse_event_size,
            )
            .await?;
        Ok(self.budget_answer(r))
    }

    async fn post_message_with_response_limits(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        limits: StreamableHttpResponseLimits,
    ) -> Result<StreamableHttpPostResponse, StreamableHttpError<Self::Error>> {
        let r = self
            .client
            .post_message_with_response_limits(uri, message, session_id, auth_header, custom_headers, limits)
            .await?;
        Ok(self.budget_answer(r))
    }

    async fn delete_session(
        &self,
        uri: Arc<str>,
        session_id: Arc<str>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<(), StreamableHttpError<Self::Error>> {
        self.client.delete_session(uri, session_id, auth_header, custom_headers).await
    }

    async fn get_stream(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<BoxStream<'static, Result<Sse, SseError>>, StreamableHttpError<Self::Error>> {
        let s = self.client.get_stream(uri, session_id, last_event_id, auth_header, custom_headers).await?;
        Ok(self.budget(s))
    }

    async fn get_stream_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Result<BoxStream<'static, Result<Sse, SseError>>, StreamableHttpError<Self::Error>> {
        let s = self
            .client
            .get_stream_with_max_sse_event_size(
                uri,
                session_id,
                last_event_id,
                auth_header,
                custom_headers,
                max_sse_event_size,
            )
            .await?;
        Ok(self.budget(s))
    }
}
