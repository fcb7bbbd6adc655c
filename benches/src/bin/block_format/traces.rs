//! PetAdoptions-shaped traces (shared/spec/petadoptions.md §1): the four page flows of one
//! adoption cycle, with the services, calls, names, URLs, statuses, annotations and injected
//! faults the demo produces, as the rows the store keeps.

// Span builders take the span's place in the call tree and its timing positionally, like the
// spec's call graph reads; a parameter struct per call would hide that shape.
#![allow(clippy::too_many_arguments)]

use fluoro_proto::{
    AnnotationScalar, AwsSummary, ExceptionSummary, HttpSummary, SegmentId, SpanKind, SpanRow, TraceId,
};
use fluoro_store::StoredSpan;
use serde_json::{json, Value};

/// splitmix64: deterministic, dependency-free, good enough for shaping load.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut x = self.0;
        x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        x ^ (x >> 31)
    }

    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

const PET_TYPES: [&str; 3] = ["puppy", "kitten", "bunny"];
const COLORS: [&str; 3] = ["brown", "black", "white"];
const TABLE: &str = "Services-PetAdoptionsTable-1DWAFR3G7XJE";
const BUCKET: &str = "services-petsiteb8d3b6-1xq2m1l2m3n4";
const QUEUE: &str = "https://sqs.us-east-1.amazonaws.com/123456789012/Services-sqspetadoption";
const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:Services-topicpetadoption";
const SQL_URL: &str = "postgresql://servicesdatabase.cluster-c1b2a3.us-east-1.rds.amazonaws.com:5432/adoptions";
const ACCOUNT: &str = "123456789012";
const REGION: &str = "us-east-1";
const USER_AGENTS: [&str; 2] = [
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
    "TrafficGenerator/1.0 (+https://github.com/aws-samples/one-observability-demo)",
];

/// Builds one trace's spans; times in microseconds.
struct Trace<'a> {
    rng: &'a mut Rng,
    trace_id: TraceId,
    spans: Vec<StoredSpan>,
    sequence: &'a mut u64,
    /// The X-Ray document of each SDK segment is attached once its subsegments exist.
    segments: Vec<usize>,
    client_ip: String,
}

impl Trace<'_> {
    fn id(&mut self) -> SegmentId {
        SegmentId::new(self.rng.next() | 1)
    }

    fn add(
        &mut self,
        parent: Option<SegmentId>,
        kind: SpanKind,
        service: &str,
        name: &str,
        start_us: i64,
        duration_us: i64,
        shape: impl FnOnce(&mut SpanRow),
    ) -> SegmentId {
        let id = self.id();
        let mut row = SpanRow {
            trace_id: self.trace_id,
            id,
            parent_id: parent,
            kind,
            service: Some(service.into()),
            name: name.into(),
            origin: Some(origin(service).into()),
            namespace: None,
            start_us,
            end_us: Some(start_us + duration_us),
            in_progress: false,
            http: HttpSummary::default(),
            error: false,
            fault: false,
            throttle: false,
            exceptions: Vec::new(),
            annotations: Vec::new(),
            user: None,
            aws: AwsSummary::default().into(),
            sql_url: None,
            remote: false,
            traced: false,
        };
        if kind == SpanKind::Segment {
            row.aws.account_id = Some(ACCOUNT.to_owned());
            row.aws.availability_zone = Some(format!("{REGION}{}", ["a", "b"][(id.as_u64() % 2) as usize]));
        }
        shape(&mut row);
        *self.sequence += 1;
        if kind == SpanKind::Segment
            && matches!(service, "PetSite" | "payforadoption" | "PetAdoptionStatusUpdater/prod")
        {
            self.segments.push(self.spans.len());
        }
        self.spans.push(StoredSpan { row, document: None, sequence: *self.sequence });
        id
    }

    fn http_call(
        &mut self,
        parent: SegmentId,
        service: &str,
        method: &str,
        url: &str,
        start: i64,
        dur: i64,
        status: u16,
    ) -> SegmentId {
        let host = url.split('/').nth(2).unwrap_or("remote").to_owned();
        self.add(Some(parent), SpanKind::Subsegment, service, &host, start, dur, |row| {
            row.namespace = Some("remote".into());
            row.remote = true;
            row.traced = !host.contains("amazon.com");
            row.http = HttpSummary {
                method: Some(method.into()),
                url: Some(url.into()),
                status: Some(status),
                ..HttpSummary::default()
            };
            set_status_flags(row, status);
        })
    }

    fn aws_call(
        &mut self,
        parent: SegmentId,
        service: &str,
        api: &str,
        operation: &str,
        start: i64,
        dur: i64,
        set: impl FnOnce(&mut AwsSummary),
    ) -> SegmentId {
        self.add(Some(parent), SpanKind::Subsegment, service, api, start, dur, |row| {
            row.namespace = Some("aws".into());
            row.remote = true;
            row.aws.operation = Some(operation.into());
            row.aws.region = Some(REGION.into());
            row.http.status = Some(200);
            set(&mut row.aws);
        })
    }

    fn server_segment(
        &mut self,
        parent: Option<SegmentId>,
        service: &str,
        method: &str,
        url: &str,
        start: i64,
        dur: i64,
        status: u16,
    ) -> SegmentId {
        let client_ip = self.client_ip.clone();
        let agent = self.rng.pick(&USER_AGENTS).to_owned();
        self.add(parent, SpanKind::Segment, service, service, start, dur, |row| {
            row.http = HttpSummary {
                method: Some(method.into()),
                url: Some(url.into()),
                status: Some(status),
                client_ip: Some(client_ip.into()),
                user_agent: Some(agent),
            };
            set_status_flags(row, status);
        })
    }
}

fn origin(service: &str) -> &'static str {
    match service {
        "PetAdoptionStatusUpdater/prod" => "AWS::ApiGateway::Stage",
        "statusupdater" => "AWS::Lambda::Function",
        "PetSearch" | "petlistadoptions" => "AWS::EKS::Container",
        _ => "AWS::ECS::Container",
    }
}

fn set_status_flags(row: &mut SpanRow, status: u16) {
    row.error = (400..500).contains(&status);
    row.fault = status >= 500;
    row.throttle = status == 429;
}

/// PetSearch: server span, optional 3 s bunny delay, the table scan and one "Get Pet URL" per
/// pet, ~1 % of which try S3 CreateBucket and fail the whole search. Returns the status.
fn petsearch(t: &mut Trace<'_>, parent: SegmentId, query: &str, pets: usize, start: i64) -> (i64, u16) {
    let bunny = query.contains("bunny");
    let delay = if bunny { 3_000_000 } else { 0 };
    let scan_dur = 8_000 + t.rng.below(15_000) as i64;
    let per_pet = 300;
    let fails = (0..pets).any(|_| t.rng.chance(10));
    let status = if fails { 500 } else { 200 };
    let total = delay + scan_dur + pets as i64 * per_pet + 2_000;
    let url = format!("http://petsearch.petadoptions.svc/api/search?{query}");
    let server = t.server_segment(Some(parent), "PetSearch", "GET", &url, start, total, status);
    let scan_start = start + delay + 500;
    let scan = t.add(
        Some(server),
        SpanKind::Subsegment,
        "PetSearch",
        "Scanning DynamoDB Table",
        scan_start,
        scan_dur + pets as i64 * per_pet,
        |row| {
            for (key, value) in query.split('&').filter_map(|kv| kv.split_once('=')) {
                row.annotations.push((key.to_owned(), AnnotationScalar::String(value.to_owned())));
            }
            row.annotations.sort_by(|a, b| a.0.cmp(&b.0));
            row.fault = fails;
        },
    );
    t.aws_call(scan, "PetSearch", "DynamoDB", "Scan", scan_start + 200, scan_dur - 400, |aws| {
        aws.table = Some(TABLE.into())
    });
    for pet in 0..pets {
        let pet_start = scan_start + scan_dur + pet as i64 * per_pet;
        let url_span =
            t.add(Some(scan), SpanKind::Subsegment, "PetSearch", "Get Pet URL", pet_start, per_pet - 50, |_| {});
        if fails && pet == pets - 1 {
            t.aws_call(url_span, "PetSearch", "S3", "CreateBucket", pet_start + 20, 200, |aws| {
                aws.resource = Some(BUCKET.into())
            });
            if let Some(last) = t.spans.last_mut() {
                last.row.http.status = Some(409);
                last.row.error = true;
                last.row.exceptions.push(ExceptionSummary {
                    name: Some("BucketAlreadyOwnedByYouException".into()),
                    message: Some(
                        "Your previous request to create the named bucket succeeded and you already own it.".into(),
                    ),
                    remote: true,
                });
            }
        }
    }
    (total, status)
}

fn search_page(t: &mut Trace<'_>, start: i64, take_me_home: bool) {
    let pet_type = t.rng.pick(&PET_TYPES);
    let color = t.rng.pick(&COLORS);
    let (query, pets, page_url, method) = if take_me_home {
        let pet_id = format!("{:03}", 1 + t.rng.below(26));
        (
            format!("&&pettype={pet_type}&petcolor={color}&petid={pet_id}"),
            1,
            "http://petsite.example.com/Adoption/TakeMeHome".to_owned(),
            "POST",
        )
    } else {
        let pets = 2 + t.rng.below(6) as usize;
        (
            format!("&pettype={pet_type}&petcolor={color}"),
            pets,
            format!("http://petsite.example.com/?selectedPetType={pet_type}&selectedPetColor={color}"),
            "GET",
        )
    };
    let root = t.id();
    let call_start = start + 1_500;
    let call_url = format!("http://petsearch.petadoptions.svc/api/search?{query}");
    let placeholder = t.add(None, SpanKind::Segment, "PetSite", "PetSite", start, 0, |_| {});
    let custom = t.add(Some(placeholder), SpanKind::Subsegment, "PetSite", "Calling Search API", call_start, 0, |_| {});
    let http = t.http_call(custom, "PetSite", "GET", &call_url, call_start + 100, 0, 200);
    let (dur, status) = petsearch(t, http, &query, pets, call_start + 400);
    let page_status = if status >= 500 { 500 } else { 200 };
    let client_ip = t.client_ip.clone();
    let agent = t.rng.pick(&USER_AGENTS).to_owned();
    for span in t.spans.iter_mut() {
        let row = &mut span.row;
        if row.id == placeholder {
            row.end_us = Some(start + dur + 4_000);
            row.http = HttpSummary {
                method: Some(method.into()),
                url: Some(page_url.clone()),
                status: Some(page_status),
                client_ip: Some(client_ip.as_str().into()),
                user_agent: Some(agent.clone()),
            };
            set_status_flags(row, page_status);
        } else if row.id == custom || row.id == http {
            row.end_us = Some(call_start + dur + 800);
            if row.id == http {
                row.http.status = Some(status);
                set_status_flags(row, status);
            }
        }
    }
    let _ = root;
}

fn payment(t: &mut Trace<'_>, start: i64) {
    let pet_type = t.rng.pick(&PET_TYPES);
    let pet_id = format!("{:03}", 1 + t.rng.below(26));
    let errormode = pet_type == "bunny" && t.rng.chance(300);
    let pay_dur: i64 = if errormode { 1_000_000 + 5_000 } else { 25_000 + t.rng.below(20_000) as i64 };
    let status = if errormode { 500 } else { 200 };
    let total = pay_dur + 60_000;
    let site = t.server_segment(
        None,
        "PetSite",
        "POST",
        &format!("http://petsite.example.com/Payment/MakePayment?petId={pet_id}&pettype={pet_type}"),
        start,
        total,
        200,
    );
    let annotations = vec![
        ("PetId".to_owned(), AnnotationScalar::String(pet_id.clone())),
        ("PetType".to_owned(), AnnotationScalar::String(pet_type.to_owned())),
    ];
    let call =
        t.add(Some(site), SpanKind::Subsegment, "PetSite", "Call Payment API", start + 1_000, pay_dur + 2_000, |row| {
            row.annotations = annotations.clone()
        });
    let url =
        format!("http://payforadoption.petadoptions.svc/api/home/completeadoption?petId={pet_id}&petType={pet_type}");
    let http = t.http_call(call, "PetSite", "POST", &url, start + 1_200, pay_dur + 1_500, status);
    let pay = t.server_segment(Some(http), "payforadoption", "POST", &url, start + 1_500, pay_dur, status);
    if let Some(last) = t.spans.last_mut() {
        last.row.annotations = annotations.clone();
        if errormode {
            last.row.exceptions.push(ExceptionSummary {
                name: Some("errorString".into()),
                message: Some("illegal argument: bunny adoption is failing, errormode1 is on".into()),
                remote: false,
            });
        }
    }
    if !errormode {
        let p = start + 2_000;
        t.add(
            Some(pay),
            SpanKind::Subsegment,
            "payforadoption",
            "adoptions@servicesdatabase.cluster-c1b2a3.us-east-1.rds.amazonaws.com",
            p,
            6_000,
            |row| {
                row.namespace = Some("remote".into());
                row.remote = true;
                row.sql_url = Some(SQL_URL.into());
            },
        );
        let update =
            t.add(Some(pay), SpanKind::Subsegment, "payforadoption", "UpdateAvailability", p + 6_500, 15_000, |_| {});
        let put_url = "https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com/prod/";
        let put = t.http_call(update, "payforadoption", "PUT", put_url, p + 6_600, 14_000, 200);
        let gateway =
            t.server_segment(Some(put), "PetAdoptionStatusUpdater/prod", "PUT", put_url, p + 7_000, 13_000, 200);
        let function = t.add(
            Some(gateway),
            SpanKind::Segment,
            "statusupdater",
            "Services-lambdapetstatusupdater",
            p + 7_500,
            12_000,
            |row| {
                row.aws.resource_arn =
                    Some(format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:Services-lambdapetstatusupdater"))
            },
        );
        t.aws_call(function, "statusupdater", "DynamoDB", "UpdateItem", p + 9_000, 8_000, |aws| {
            aws.table = Some(TABLE.into())
        });
        t.http_call(update, "payforadoption", "GET", "https://amazon.com", p + 6_600, 12_000, 200);
    }
    let after = start + pay_dur + 5_000;
    let sqs = t.add(Some(site), SpanKind::Subsegment, "PetSite", "Post Message to SQS", after, 12_000, |_| {});
    t.aws_call(sqs, "PetSite", "SQS", "SendMessage", after + 200, 11_000, |aws| aws.queue = Some(QUEUE.into()));
    let sns = t.add(Some(site), SpanKind::Subsegment, "PetSite", "Send Notification", after + 13_000, 15_000, |_| {});
    t.aws_call(sns, "PetSite", "SNS", "Publish", after + 13_200, 14_000, |aws| aws.resource = Some(TOPIC.into()));
    if pet_type == "bunny" {
        t.aws_call(site, "PetSite", "StepFunctions", "StartExecution", after + 29_000, 20_000, |aws| {
            aws.resource_arn = Some(format!("arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:StepFnStateMachine"));
        });
    }
}

fn list_adoptions(t: &mut Trace<'_>, start: i64) {
    let adopted = 1 + t.rng.below(4) as usize;
    let mut cursor = start + 12_000;
    let site = t.server_segment(None, "PetSite", "GET", "http://petsite.example.com/PetListAdoptions", start, 0, 200);
    let custom = t.add(Some(site), SpanKind::Subsegment, "PetSite", "Calling PetListAdoptions", start + 800, 0, |_| {});
    let url = "http://petlistadoptions.petadoptions.svc/api/adoptionlist/";
    let http = t.http_call(custom, "PetSite", "GET", url, start + 900, 0, 200);
    let list = t.server_segment(Some(http), "petlistadoptions", "GET", url, start + 1_200, 0, 200);
    t.add(Some(list), SpanKind::Subsegment, "petlistadoptions", "SELECT adoptions", start + 2_000, 9_000, |row| {
        row.namespace = Some("remote".into());
        row.remote = true;
        row.sql_url = Some(SQL_URL.into());
    });
    for _ in 0..adopted {
        let pet_id = format!("{:03}", 1 + t.rng.below(26));
        let query = format!("petid={pet_id}");
        let call = t.http_call(
            list,
            "petlistadoptions",
            "GET",
            &format!("http://petsearch.petadoptions.svc/api/search?{query}"),
            cursor,
            0,
            200,
        );
        let (dur, status) = petsearch(t, call, &query, 1, cursor + 200);
        if let Some(span) = t.spans.iter_mut().find(|span| span.row.id == call) {
            span.row.end_us = Some(cursor + dur + 400);
            span.row.http.status = Some(status);
            set_status_flags(&mut span.row, status);
        }
        cursor += dur / 3 + 500; // calls run in parallel
    }
    let end = cursor + 20_000;
    for span in t.spans.iter_mut().filter(|span| [site, custom, http, list].contains(&span.row.id)) {
        span.row.end_us = Some(end - (span.row.start_us - start));
    }
}

/// One PetAdoptions trace starting at `start_us`: a search (40 %), a "take me home" (20 %), a
/// payment (25 %) or the adoption list (15 %). `documents` puts the X-Ray JSON on SDK segments.
pub(crate) fn trace(rng: &mut Rng, sequence: &mut u64, start_us: i64, documents: bool) -> Vec<StoredSpan> {
    let mut random = [0u8; 12];
    random[..8].copy_from_slice(&rng.next().to_be_bytes());
    random[8..].copy_from_slice(&(rng.next() as u32).to_be_bytes());
    let trace_id = TraceId::new((start_us / 1_000_000) as u32, random);
    let client_ip = format!("10.0.{}.{}", rng.below(4), 10 + rng.below(40));
    let mut t = Trace { rng, trace_id, spans: Vec::with_capacity(24), sequence, segments: Vec::new(), client_ip };
    match t.rng.below(100) {
        0..40 => search_page(&mut t, start_us, false),
        40..60 => search_page(&mut t, start_us, true),
        60..85 => payment(&mut t, start_us),
        _ => list_adoptions(&mut t, start_us),
    }
    if documents {
        attach_documents(&mut t);
    }
    t.spans
}

/// The X-Ray segment document an SDK would have sent: the segment with its subsegments.
fn attach_documents(t: &mut Trace<'_>) {
    for &index in &t.segments {
        let segment = &t.spans[index].row;
        let mut children: Vec<Value> = Vec::new();
        collect_subsegments(&t.spans, segment.id, &mut children);
        let document = json!({
            "name": segment.name, "id": format!("{:016x}", segment.id.as_u64()),
            "trace_id": format!("1-{:08x}-{}", segment.trace_id.epoch_seconds(), &segment.trace_id.to_w3c()[8..]),
            "parent_id": segment.parent_id.map(|p| format!("{:016x}", p.as_u64())),
            "start_time": segment.start_us as f64 / 1e6, "end_time": segment.end_us.map(|e| e as f64 / 1e6),
            "origin": segment.origin, "fault": segment.fault, "error": segment.error,
            "http": { "request": { "method": segment.http.method, "url": segment.http.url, "client_ip": segment.http.client_ip,
                                   "user_agent": segment.http.user_agent },
                      "response": { "status": segment.http.status, "content_length": 1834 } },
            "aws": { "xray": { "sdk": "X-Ray for .NET Core", "sdk_version": "2.14.0" },
                     "ecs": { "container": "PetSite-7f9c5", "availability_zone": segment.aws.availability_zone } },
            "annotations": annotations_json(segment),
            "subsegments": children,
        });
        t.spans[index].document = Some(document.to_string().into());
    }
}

fn collect_subsegments(spans: &[StoredSpan], parent: SegmentId, out: &mut Vec<Value>) {
    for span in spans.iter().filter(|span| span.row.parent_id == Some(parent) && span.row.kind == SpanKind::Subsegment)
    {
        let row = &span.row;
        let mut children = Vec::new();
        collect_subsegments(spans, row.id, &mut children);
        let mut map = serde_json::Map::new();
        map.insert("name".into(), json!(row.name));
        map.insert("id".into(), json!(format!("{:016x}", row.id.as_u64())));
        map.insert("start_time".into(), json!(row.start_us as f64 / 1e6));
        map.insert("end_time".into(), json!(row.end_us.map(|e| e as f64 / 1e6)));
        if let Some(ns) = &row.namespace {
            map.insert("namespace".into(), json!(ns));
        }
        if row.http.url.is_some() {
            map.insert(
                "http".into(),
                json!({ "request": { "method": row.http.method, "url": row.http.url, "traced": row.traced },
                                              "response": { "status": row.http.status } }),
            );
        }
        if let Some(operation) = &row.aws.operation {
            map.insert("aws".into(), json!({ "operation": operation, "region": row.aws.region, "table_name": row.aws.table,
                                             "queue_url": row.aws.queue, "retries": 0, "request_id": format!("{:032X}", row.id.as_u64()) }));
        }
        if let Some(url) = &row.sql_url {
            map.insert("sql".into(), json!({ "url": url, "database_type": "PostgreSQL", "user": "petadmin",
                                             "sanitized_query": "INSERT INTO transactions (pet_id, adopted_on, transaction_id) VALUES ($1, $2, $3)" }));
        }
        if !row.annotations.is_empty() {
            map.insert("annotations".into(), annotations_json(row));
        }
        if row.fault || row.error {
            map.insert("fault".into(), json!(row.fault));
            map.insert("error".into(), json!(row.error));
        }
        if !children.is_empty() {
            map.insert("subsegments".into(), Value::Array(children));
        }
        out.push(Value::Object(map));
    }
}

fn annotations_json(row: &SpanRow) -> Value {
    let mut map = serde_json::Map::new();
    for (key, value) in &row.annotations {
        let value = match value {
            AnnotationScalar::String(text) => json!(text),
            AnnotationScalar::Number(number) => json!(number),
            AnnotationScalar::Bool(flag) => json!(flag),
        };
        map.insert(key.clone(), value);
    }
    Value::Object(map)
}
