//! The hand-built trace corpus the filter and summary tests run against: 24 traces, `t01`…
//! `t24`, each made of X-Ray documents as an SDK would send them. The expected results in
//! `tests/filter_corpus/match.txt` were worked out by hand from the table below; when you add
//! a trace, work out which expressions it changes before running with `FLUORO_BLESS=1`.
//!
//! ```text
//! trace root (type)       rt     status method url (shop. = https://shop.example.com)  user   downstream, notes
//! t01  web (EC2)          0.1    200 GET    shop./api/items                   alice  DynamoDB(items) .06; env=prod build=12 vip=true; az us-east-1a i-0aaa
//! t02  web                2.5    500 POST   shop./api/checkout                bob    →payments(Lambda fn, fault, TimeoutError)→card.example.net(502 HttpError); env=prod build=13
//! t03  web                0.05   404 GET    shop./api/items/42                alice  env=staging
//! t04  web                0.02   429 GET    shop./api/items                   carol  throttle
//! t05  web                6.0    200 GET    shop./api/slow                    -      DynamoDB(items) 5.5; build=12
//! t06  web                -      -   GET    shop./api/upload                  dave   root in progress
//! t07  web                0.3    200 POST   shop./api/orders                  alice  SQS sub → worker (Lambda fn, error ValidationError) ends at 3.0
//! t08  api (ECS)          1.2    200 GET    https://api.example.com/v2/users  alice  db@postgres.internal .9; curl, 10.0.0.7; region=eu; az us-east-1a i-0123456789abcdef0
//! t09  api                0.01   200 GET    https://api.example.com/v1/health -      ELB-HealthChecker, 10.0.0.8
//! t10  api                0.4    401 POST   https://api.example.com/v2/login  eve    attempts=3 vip=false
//! t11  web                1.0    503 GET    shop./api/items                   -      DynamoDB(items) .8 fault ProvisionedThroughputExceededException
//! t12  web                0.2    200 GET    shop./api/items                   -      inventory.example.com .12, 429 (handled)
//! t13  checkout (Lambda fn) 0.8  -   -      -                                 -      resource arn …function:checkout; order_id=A-1
//! t14  checkout (AWS::Lambda) 1.5 fault -   -                                 -      Invocation → checkout (Lambda fn) fault RuntimeError
//! t15  web                0.15   200 GET    shop./api/items                   alice  S3 .09
//! t16  web                3.2    200 PUT    shop./api/items/7                 -      local render 3.0; env=prod
//! t17  web                0.5    500 DELETE shop./api/items/7                 bob    NullPointerException on the root
//! t18  web                0.4    502 GET    shop./api/stream                  -      stream (traced, 502) → stream-worker (ECS) in progress
//! t19  gateway (APIGW)    0.6    200 GET    https://gw.example.com/prod/orders -     → orders (Lambda fn, user frank, user_tier=gold) → DynamoDB(orders) .4
//! t20  web                0.25   200 GET    shop./api/items?page=2            -      request_id=r-20 score=0.75 flag=true
//! t21  web                0.5    200 GET    shop./api/items                   bob    az us-east-1b i-0bbb
//! t22  web                4.0    201 GET    shop./api/items                   carol
//! t23  web                0.001  200 HEAD   shop./api/items                   -
//! t24  api                5.0    504 GET    https://api.example.com/v2/search -      search.example.com 4.8 fault TimeoutError; curl, 10.0.0.7
//! ```
//! Web traces send user agent `Mozilla/5.0` (t04: `python-requests/2.31`, t06 none); client
//! ips are only where listed above or t01/t03 10.0.0.1, t02 10.0.0.2, t04 10.0.0.3, t19 10.0.0.20.

use std::collections::BTreeMap;

use fluoro_store::{Store, StoreConfig};
use serde_json::{json, Value};
use tempfile::TempDir;

/// Epoch seconds of the first trace; trace `tNN` starts `NN * 10` seconds later.
pub(crate) const T0: f64 = 1_700_000_000.0;
/// Microseconds covering every trace of the corpus.
pub(crate) const FROM_US: i64 = 1_700_000_000_000_000;
pub(crate) const TO_US: i64 = FROM_US + 300 * 1_000_000;

pub(crate) struct Corpus {
    pub store: Store,
    /// Trace id → corpus name (`t07`).
    pub names: BTreeMap<String, String>,
    _dir: TempDir,
}

pub(crate) fn trace_id(number: u32) -> String {
    format!("1-{:08x}-{:024x}", T0 as u32 + number * 10, number)
}

pub(crate) fn corpus() -> Corpus {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(StoreConfig::new(dir.path())).unwrap();
    let mut names = BTreeMap::new();
    let traces: [fn(&Trace) -> Vec<Value>; 24] = [
        t01, t02, t03, t04, t05, t06, t07, t08, t09, t10, t11, t12, t13, t14, t15, t16, t17, t18, t19, t20, t21, t22,
        t23, t24,
    ];
    for (index, build) in traces.iter().enumerate() {
        let number = index as u32 + 1;
        let trace = Trace { number };
        names.insert(trace_id(number), format!("t{number:02}"));
        write(&store, &build(&trace));
    }
    Corpus { store, names, _dir: dir }
}

/// Writes documents as the collector would: one acknowledged batch.
pub(crate) use crate::petstore::put as write;

pub(crate) struct Trace {
    number: u32,
}

impl Trace {
    fn base(&self) -> f64 {
        T0 + f64::from(self.number) * 10.0
    }

    /// Span id `n` of this trace (16 hex digits).
    pub(crate) fn id(&self, n: u32) -> String {
        format!("{:02}{:014}", self.number, n)
    }

    /// A top-level segment; `end` None means in progress.
    fn segment(&self, n: u32, name: &str, start: f64, end: Option<f64>, fields: Value) -> Value {
        let mut document = json!({"trace_id": trace_id(self.number), "id": self.id(n), "name": name,
                                  "start_time": self.base() + start});
        match end {
            Some(end) => document["end_time"] = json!(self.base() + end),
            None => document["in_progress"] = json!(true),
        }
        merge(document, fields)
    }

    fn sub(&self, n: u32, name: &str, start: f64, end: f64, fields: Value) -> Value {
        let document = json!({"id": self.id(n), "name": name, "start_time": self.base() + start,
                              "end_time": self.base() + end});
        merge(document, fields)
    }
}

fn merge(mut document: Value, fields: Value) -> Value {
    if let (Some(target), Value::Object(fields)) = (document.as_object_mut(), fields) {
        target.extend(fields);
    }
    document
}

fn http(method: &str, url: &str, status: Option<u32>, agent: Option<&str>, ip: Option<&str>) -> Value {
    let mut request = json!({"method": method, "url": url});
    if let Some(agent) = agent {
        request["user_agent"] = json!(agent);
    }
    if let Some(ip) = ip {
        request["client_ip"] = json!(ip);
    }
    let mut http = json!({"request": request});
    if let Some(status) = status {
        http["response"] = json!({"status": status});
    }
    http
}

const SHOP: &str = "https://shop.example.com";
const MOZILLA: Option<&str> = Some("Mozilla/5.0");

fn web(t: &Trace, rt: f64, method: &str, path: &str, status: u32, fields: Value) -> Value {
    let http = http(method, &format!("{SHOP}{path}"), Some(status), MOZILLA, None);
    let base = json!({"origin": "AWS::EC2::Instance", "http": http});
    t.segment(1, "web", 0.0, Some(rt), merge(base, fields))
}

fn dynamodb(t: &Trace, n: u32, table: &str, start: f64, end: f64, fields: Value) -> Value {
    let aws = json!({"aws": {"operation": "GetItem", "table_name": table}, "namespace": "aws"});
    t.sub(n, "DynamoDB", start, end, merge(aws, fields))
}

fn exception(kind: &str, message: &str) -> Value {
    json!({"exceptions": [{"id": "0000000000000001", "type": kind, "message": message}]})
}

fn t01(t: &Trace) -> Vec<Value> {
    let http = http("GET", &format!("{SHOP}/api/items"), Some(200), MOZILLA, Some("10.0.0.1"));
    vec![web(
        t,
        0.1,
        "GET",
        "/api/items",
        200,
        json!({
            "http": http, "user": "alice",
            "annotations": {"env": "prod", "build": 12, "vip": true},
            "aws": {"ec2": {"instance_id": "i-0aaa", "availability_zone": "us-east-1a"}},
            "subsegments": [dynamodb(t, 2, "items", 0.02, 0.08, json!({}))],
        }),
    )]
}

fn t02(t: &Trace) -> Vec<Value> {
    let http_root = http("POST", &format!("{SHOP}/api/checkout"), Some(500), MOZILLA, Some("10.0.0.2"));
    let call = t.sub(
        2,
        "payments",
        0.1,
        2.4,
        json!({"namespace": "remote",
        "http": {"request": {"method": "POST", "url": "https://payments.internal/charge", "traced": true},
                 "response": {"status": 500}}}),
    );
    let card = t.sub(
        4,
        "card.example.net",
        0.3,
        2.2,
        json!({"namespace": "remote",
        "http": {"request": {"method": "POST", "url": "https://card.example.net/v1/charge"},
                 "response": {"status": 502}},
        "cause": exception("HttpError", "502 Bad Gateway")}),
    );
    let payments = t.segment(
        3,
        "payments",
        0.2,
        Some(2.3),
        json!({
        "origin": "AWS::Lambda::Function", "parent_id": t.id(2), "fault": true,
        "resource_arn": "arn:aws:lambda:us-east-1:123456789012:function:payments",
        "cause": exception("TimeoutError", "card processor timed out"),
        "subsegments": [card]}),
    );
    let root = web(
        t,
        2.5,
        "POST",
        "/api/checkout",
        500,
        json!({
        "http": http_root, "user": "bob", "annotations": {"env": "prod", "build": 13}, "subsegments": [call]}),
    );
    vec![root, payments]
}

fn t03(t: &Trace) -> Vec<Value> {
    let http = http("GET", &format!("{SHOP}/api/items/42"), Some(404), MOZILLA, Some("10.0.0.1"));
    vec![web(
        t,
        0.05,
        "GET",
        "/api/items/42",
        404,
        json!({"http": http, "user": "alice",
        "annotations": {"env": "staging"}}),
    )]
}

fn t04(t: &Trace) -> Vec<Value> {
    let http = http("GET", &format!("{SHOP}/api/items"), Some(429), Some("python-requests/2.31"), Some("10.0.0.3"));
    vec![web(t, 0.02, "GET", "/api/items", 429, json!({"http": http, "user": "carol"}))]
}

fn t05(t: &Trace) -> Vec<Value> {
    vec![web(
        t,
        6.0,
        "GET",
        "/api/slow",
        200,
        json!({"annotations": {"build": 12},
        "subsegments": [dynamodb(t, 2, "items", 0.2, 5.7, json!({}))]}),
    )]
}

fn t06(t: &Trace) -> Vec<Value> {
    let http = json!({"request": {"method": "GET", "url": format!("{SHOP}/api/upload")}});
    vec![t.segment(1, "web", 0.0, None, json!({"origin": "AWS::EC2::Instance", "http": http, "user": "dave"}))]
}

fn t07(t: &Trace) -> Vec<Value> {
    let sqs = t.sub(
        2,
        "SQS",
        0.05,
        0.07,
        json!({"namespace": "aws",
        "aws": {"operation": "SendMessage", "queue_url": "https://sqs.us-east-1.amazonaws.com/123456789012/orders"}}),
    );
    let root = web(t, 0.3, "POST", "/api/orders", 200, json!({"user": "alice", "subsegments": [sqs]}));
    let worker = t.segment(
        3,
        "worker",
        0.5,
        Some(3.0),
        json!({"origin": "AWS::Lambda::Function",
        "parent_id": t.id(2), "error": true, "cause": exception("ValidationError", "bad order")}),
    );
    vec![root, worker]
}

fn api(t: &Trace, rt: f64, http: Value, fields: Value) -> Value {
    t.segment(1, "api", 0.0, Some(rt), merge(json!({"origin": "AWS::ECS::Container", "http": http}), fields))
}

fn t08(t: &Trace) -> Vec<Value> {
    let http = http("GET", "https://api.example.com/v2/users", Some(200), Some("curl/8.4.0"), Some("10.0.0.7"));
    let db = t.sub(
        2,
        "db@postgres.internal",
        0.1,
        1.0,
        json!({"namespace": "remote",
        "sql": {"url": "postgresql://postgres.internal:5432/app", "database_type": "PostgreSQL"}}),
    );
    vec![api(
        t,
        1.2,
        http,
        json!({"user": "alice", "annotations": {"region": "eu"},
        "aws": {"ec2": {"instance_id": "i-0123456789abcdef0", "availability_zone": "us-east-1a"}},
        "subsegments": [db]}),
    )]
}

fn t09(t: &Trace) -> Vec<Value> {
    let http =
        http("GET", "https://api.example.com/v1/health", Some(200), Some("ELB-HealthChecker/2.0"), Some("10.0.0.8"));
    vec![api(t, 0.01, http, json!({}))]
}

fn t10(t: &Trace) -> Vec<Value> {
    let http = http("POST", "https://api.example.com/v2/login", Some(401), MOZILLA, Some("10.0.0.9"));
    vec![api(t, 0.4, http, json!({"user": "eve", "annotations": {"attempts": 3, "vip": false}}))]
}

fn t11(t: &Trace) -> Vec<Value> {
    let fault = merge(
        json!({"fault": true}),
        json!({"cause": exception("ProvisionedThroughputExceededException", "Rate exceeded")}),
    );
    vec![web(t, 1.0, "GET", "/api/items", 503, json!({"subsegments": [dynamodb(t, 2, "items", 0.1, 0.9, fault)]}))]
}

fn t12(t: &Trace) -> Vec<Value> {
    let inventory = t.sub(2, "inventory.example.com", 0.05, 0.17, json!({"namespace": "remote",
        "http": {"request": {"method": "GET", "url": "http://inventory.example.com/stock"}, "response": {"status": 429}}}));
    vec![web(t, 0.2, "GET", "/api/items", 200, json!({"subsegments": [inventory]}))]
}

fn t13(t: &Trace) -> Vec<Value> {
    vec![t.segment(
        1,
        "checkout",
        0.0,
        Some(0.8),
        json!({"origin": "AWS::Lambda::Function",
        "resource_arn": "arn:aws:lambda:us-east-1:123456789012:function:checkout",
        "annotations": {"order_id": "A-1"}}),
    )]
}

fn t14(t: &Trace) -> Vec<Value> {
    let invocation = t.sub(2, "Invocation", 0.05, 1.45, json!({}));
    let service = t.segment(
        1,
        "checkout",
        0.0,
        Some(1.5),
        json!({"origin": "AWS::Lambda", "fault": true,
        "subsegments": [invocation]}),
    );
    let function = t.segment(
        3,
        "checkout",
        0.1,
        Some(1.4),
        json!({"origin": "AWS::Lambda::Function",
        "parent_id": t.id(2), "fault": true, "cause": exception("RuntimeError", "boom")}),
    );
    vec![service, function]
}

fn t15(t: &Trace) -> Vec<Value> {
    let http = http("GET", &format!("{SHOP}/api/items"), Some(200), MOZILLA, None);
    let s3 = t.sub(2, "S3", 0.01, 0.1, json!({"namespace": "aws", "aws": {"operation": "GetObject"}}));
    vec![web(t, 0.15, "GET", "/api/items", 200, json!({"http": http, "user": "alice", "subsegments": [s3]}))]
}

fn t16(t: &Trace) -> Vec<Value> {
    let render = t.sub(2, "render", 0.1, 3.1, json!({}));
    vec![web(t, 3.2, "PUT", "/api/items/7", 200, json!({"annotations": {"env": "prod"}, "subsegments": [render]}))]
}

fn t17(t: &Trace) -> Vec<Value> {
    vec![web(
        t,
        0.5,
        "DELETE",
        "/api/items/7",
        500,
        json!({"user": "bob",
        "cause": exception("NullPointerException", "item was null")}),
    )]
}

fn t18(t: &Trace) -> Vec<Value> {
    let stream = t.sub(2, "stream", 0.05, 0.35, json!({"namespace": "remote",
        "http": {"request": {"method": "GET", "url": "http://stream.internal/", "traced": true}, "response": {"status": 502}}}));
    let root = web(t, 0.4, "GET", "/api/stream", 502, json!({"subsegments": [stream]}));
    let worker =
        t.segment(3, "stream-worker", 0.1, None, json!({"origin": "AWS::ECS::Container", "parent_id": t.id(2)}));
    vec![root, worker]
}

fn t19(t: &Trace) -> Vec<Value> {
    let http_root =
        http("GET", "https://gw.example.com/prod/orders", Some(200), Some("okhttp/4.12"), Some("10.0.0.20"));
    let call = t.sub(2, "orders", 0.02, 0.58, json!({"namespace": "remote",
        "http": {"request": {"method": "POST", "url": "https://lambda/orders", "traced": true}, "response": {"status": 200}}}));
    let root = t.segment(
        1,
        "gateway",
        0.0,
        Some(0.6),
        json!({"origin": "AWS::ApiGateway::Stage", "http": http_root,
        "subsegments": [call]}),
    );
    let orders = t.segment(
        3,
        "orders",
        0.03,
        Some(0.57),
        json!({"origin": "AWS::Lambda::Function", "parent_id": t.id(2),
        "user": "frank", "annotations": {"user_tier": "gold"},
        "subsegments": [dynamodb(t, 4, "orders", 0.1, 0.5, json!({}))]}),
    );
    vec![root, orders]
}

fn t20(t: &Trace) -> Vec<Value> {
    vec![web(
        t,
        0.25,
        "GET",
        "/api/items?page=2",
        200,
        json!({
        "annotations": {"request_id": "r-20", "score": 0.75, "flag": true}}),
    )]
}

fn t21(t: &Trace) -> Vec<Value> {
    vec![web(
        t,
        0.5,
        "GET",
        "/api/items",
        200,
        json!({"user": "bob",
        "aws": {"ec2": {"instance_id": "i-0bbb", "availability_zone": "us-east-1b"}}}),
    )]
}

fn t22(t: &Trace) -> Vec<Value> {
    vec![web(t, 4.0, "GET", "/api/items", 201, json!({"user": "carol"}))]
}

fn t23(t: &Trace) -> Vec<Value> {
    vec![web(t, 0.001, "HEAD", "/api/items", 200, json!({}))]
}

fn t24(t: &Trace) -> Vec<Value> {
    let http = http("GET", "https://api.example.com/v2/search", Some(504), Some("curl/8.4.0"), Some("10.0.0.7"));
    let search = t.sub(
        2,
        "search.example.com",
        0.1,
        4.9,
        json!({"namespace": "remote",
        "http": {"request": {"method": "GET", "url": "https://search.example.com/q"}, "response": {"status": 504}},
        "cause": exception("TimeoutError", "upstream timeout")}),
    );
    vec![api(t, 5.0, http, json!({"subsegments": [search]}))]
}
