//! A small X-Ray SDK over proto's segment types, for the services the original instruments with
//! X-Ray SDKs (PetSite, payforadoption, the status updater's gateway and function, the
//! workflow): segments and subsegments as the SDKs write them, sent as documents over UDP to
//! the sidecar `fluoro daemon` (`{"format":"json","version":1}\n{document}`).
//!
//! - A segment is sent once, complete, when it ends; subsegments end into their parent (the
//!   SDKs' default for small segments).
//! - Sending is best effort, as in the SDKs: a datagram that cannot be sent is dropped quietly.
//! - Every trace is sampled: the demo wants every request on the map.

use std::collections::BTreeMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;

use fluoro_proto::{
    AnnotationValue, Aws, Cause, CauseDetails, Entity, Exception, Http, HttpRequest, HttpResponse, Sql, TraceId,
    XraySdk,
};
use parking_lot::Mutex;
use serde_json::Value;

use crate::propagation::{new_segment_id, new_trace_id, TraceContext};
use crate::sampling::{Request, Sampler};

const DAEMON_HEADER: &str = "{\"format\":\"json\",\"version\":1}\n";

/// Where one service's segments go.
#[derive(Debug)]
pub(crate) struct XrayEmitter {
    socket: Option<UdpSocket>,
    daemon: Option<SocketAddr>,
    sampler: Option<Arc<Sampler>>,
}

impl XrayEmitter {
    /// An emitter sending to `daemon`; without one, segments are built and dropped.
    pub(crate) fn new(daemon: Option<SocketAddr>, sampler: Option<Arc<Sampler>>) -> Arc<XrayEmitter> {
        let socket = daemon.and_then(|_| UdpSocket::bind("127.0.0.1:0").ok());
        Arc::new(XrayEmitter { socket, daemon, sampler })
    }

    fn send(&self, entity: &Entity) {
        let (Some(socket), Some(daemon)) = (&self.socket, self.daemon) else { return };
        let Ok(document) = serde_json::to_string(entity) else { return };
        let datagram = format!("{DAEMON_HEADER}{document}");
        // Best effort, as the SDKs: the daemon may be restarting.
        let _ = socket.send_to(datagram.as_bytes(), daemon);
    }
}

/// A segment or subsegment being recorded. Cloning shares it (concurrent children).
#[derive(Debug, Clone)]
pub(crate) struct XSpan {
    emitter: Arc<XrayEmitter>,
    entity: Arc<Mutex<Entity>>,
    parent: Option<Arc<Mutex<Entity>>>,
    trace_id: TraceId,
    /// Unsampled entities are recorded but never sent; their calls carry `Sampled=0`.
    sampled: bool,
}

fn now_seconds() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs_f64())
        .unwrap_or_default()
}

impl XSpan {
    /// The segment of a request from `caller` (the caller's sampling decision holds), or the
    /// root of a new trace, sampled by the rules for `request`.
    pub(crate) fn segment_for(
        emitter: &Arc<XrayEmitter>,
        name: &str,
        caller: Option<TraceContext>,
        request: Request<'_>,
    ) -> XSpan {
        let sampled = match (caller, &emitter.sampler) {
            (Some(caller), _) => caller.sampled,
            (None, Some(sampler)) => sampler.sample(request),
            (None, None) => true,
        };
        let segment = XSpan::segment(emitter, name, caller);
        XSpan { sampled, ..segment }
    }

    /// The segment of one incoming request, continuing the caller's trace (and its sampling
    /// decision) if it sent one.
    pub(crate) fn segment(emitter: &Arc<XrayEmitter>, name: &str, caller: Option<TraceContext>) -> XSpan {
        let mut entity = Entity::new(name.to_owned(), new_segment_id(), now_seconds());
        let trace_id = caller.map(|context| context.trace_id).unwrap_or_else(new_trace_id);
        entity.trace_id = Some(trace_id);
        entity.parent_id = caller.map(|context| context.parent_id);
        entity.aws = Some(Box::new(Aws {
            xray: Some(XraySdk {
                sdk: Some("fluoro-demo".to_owned()),
                sdk_version: Some(env!("CARGO_PKG_VERSION").to_owned()),
                ..XraySdk::default()
            }),
            ..Aws::default()
        }));
        let sampled = caller.is_none_or(|caller| caller.sampled);
        XSpan { emitter: emitter.clone(), entity: Arc::new(Mutex::new(entity)), parent: None, trace_id, sampled }
    }

    /// A subsegment; it joins this entity when it ends.
    pub(crate) fn child(&self, name: &str) -> XSpan {
        let entity = Entity::new(name.to_owned(), new_segment_id(), now_seconds());
        XSpan {
            emitter: self.emitter.clone(),
            entity: Arc::new(Mutex::new(entity)),
            parent: Some(self.entity.clone()),
            trace_id: self.trace_id,
            sampled: self.sampled,
        }
    }

    pub(crate) fn trace_id(&self) -> TraceId {
        self.trace_id
    }

    /// The context to propagate on a call this span makes.
    pub(crate) fn context(&self) -> TraceContext {
        TraceContext { trace_id: self.trace_id, parent_id: self.entity.lock().id, sampled: self.sampled }
    }

    pub(crate) fn set_origin(&self, origin: &str) {
        self.entity.lock().origin = Some(origin.into());
    }

    /// The ARN of the resource the segment stands for (a state machine).
    pub(crate) fn other_arn(&self, arn: &str) {
        self.entity.lock().resource_arn = Some(arn.to_owned());
    }

    pub(crate) fn annotate(&self, key: &str, value: &str) {
        let mut entity = self.entity.lock();
        let annotations = entity.annotations.get_or_insert_with(BTreeMap::new);
        annotations.insert(key.to_owned(), AnnotationValue::String(value.to_owned()));
    }

    pub(crate) fn metadata(&self, key: &str, value: Value) {
        let mut entity = self.entity.lock();
        let metadata = entity.metadata.get_or_insert_with(serde_json::Map::new);
        let default = metadata.entry("default").or_insert_with(|| Value::Object(serde_json::Map::new()));
        if let Value::Object(map) = default {
            map.insert(key.to_owned(), value);
        }
    }

    /// `namespace: remote` with the request's method and URL, as the SDKs' HTTP clients write.
    pub(crate) fn http_call(&self, method: &str, url: &str) {
        let mut entity = self.entity.lock();
        entity.namespace = Some("remote".into());
        entity.http = Some(Box::new(http(method, url, None)));
    }

    /// The request a segment serves.
    pub(crate) fn http_request(&self, method: &str, url: &str, client_ip: Option<String>) {
        self.entity.lock().http = Some(Box::new(http(method, url, client_ip)));
    }

    /// The response status, with the flags X-Ray derives from it: 429 throttle (and error),
    /// other 4xx error, 5xx fault.
    pub(crate) fn http_status(&self, status: u16) {
        let mut entity = self.entity.lock();
        let http = entity.http.get_or_insert_with(Box::default);
        http.response = Some(HttpResponse { status: Some(status), ..HttpResponse::default() });
        set_status_flags(&mut entity, status);
    }

    /// An AWS SDK call: `namespace: aws`, and the fields the SDKs write.
    pub(crate) fn aws_call(&self, aws: Aws) {
        let mut entity = self.entity.lock();
        entity.namespace = Some("aws".into());
        entity.aws = Some(Box::new(aws));
    }

    pub(crate) fn aws_namespace(&self) {
        self.entity.lock().namespace = Some("aws".into());
    }

    /// A SQL statement: `namespace: remote` and the `sql` block.
    pub(crate) fn sql_call(&self, url: &str, query: &str) {
        let mut entity = self.entity.lock();
        entity.namespace = Some("remote".into());
        entity.sql = Some(Box::new(Sql {
            url: Some(url.to_owned()),
            sanitized_query: Some(query.to_owned()),
            database_type: Some("SQLite".to_owned()),
            user: Some("petadoptions".to_owned()),
            ..Sql::default()
        }));
    }

    /// Records an exception; `fault` unless a status already decided the flags. An AWS
    /// throttling error is a throttle, as the X-Ray SDKs' AWS handlers mark it.
    pub(crate) fn exception(&self, kind: &str, message: &str, remote: bool) {
        let mut entity = self.entity.lock();
        if fluoro_proto::is_throttling_error(kind) {
            entity.error = Some(true);
            entity.throttle = Some(true);
        } else if entity.error != Some(true) && entity.throttle != Some(true) {
            entity.fault = Some(true);
        }
        let exception = Exception {
            id: Some(new_segment_id()),
            message: Some(message.to_owned()),
            kind: Some(kind.to_owned()),
            remote: Some(remote),
            ..Exception::default()
        };
        let cause = entity.cause.get_or_insert_with(|| Cause::Details(CauseDetails::default()));
        if let Cause::Details(details) = cause {
            details.exceptions.get_or_insert_with(Vec::new).push(exception);
        }
    }

    pub(crate) fn fault(&self) {
        self.entity.lock().fault = Some(true);
    }

    /// Ends the entity: a subsegment joins its parent, a segment goes to the daemon.
    pub(crate) fn end(self) {
        let mut entity = self.entity.lock().clone();
        entity.end_time = Some(now_seconds());
        match &self.parent {
            Some(parent) => parent.lock().subsegments.get_or_insert_with(Vec::new).push(entity),
            None if self.sampled => self.emitter.send(&entity),
            None => {}
        }
    }
}

fn http(method: &str, url: &str, client_ip: Option<String>) -> Http {
    Http {
        request: Some(HttpRequest {
            method: Some(method.into()),
            url: Some(url.to_owned()),
            client_ip: client_ip.map(Into::into),
            ..HttpRequest::default()
        }),
        ..Http::default()
    }
}

fn set_status_flags(entity: &mut Entity, status: u16) {
    match status {
        429 => {
            entity.error = Some(true);
            entity.throttle = Some(true);
        }
        400..=499 => entity.error = Some(true),
        500..=599 => entity.fault = Some(true),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_segment_is_sent_as_one_valid_document_with_its_subsegments() {
        let daemon = UdpSocket::bind("127.0.0.1:0").unwrap();
        let emitter = XrayEmitter::new(Some(daemon.local_addr().unwrap()), None);
        let segment = XSpan::segment(&emitter, "PetSite", None);
        segment.http_request("GET", "http://127.0.0.1/", None);
        let call = segment.child("Calling Search API");
        call.http_call("GET", "http://127.0.0.1:1/api/search?");
        call.http_status(500);
        call.end();
        segment.http_status(200);
        segment.end();
        let mut buffer = [0u8; 65536];
        let length = daemon.recv(&mut buffer).unwrap();
        let text = std::str::from_utf8(&buffer[..length]).unwrap();
        let document = text.strip_prefix(DAEMON_HEADER).unwrap();
        let parsed = fluoro_proto::parse_document(document.as_bytes()).unwrap();
        let rows = fluoro_proto::rows_from_document(&parsed);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1].name, "Calling Search API");
        assert!(rows[1].fault);
    }
}
