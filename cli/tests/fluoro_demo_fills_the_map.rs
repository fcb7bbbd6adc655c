//! `fluoro demo` under its own traffic (fast pacing) and one bunny adoption clicked through
//! PetSite: the API's service map holds every service and AWS node with their edges, and one
//! trace holds both the X-Ray segments (PetSite, through the sidecar) and the OpenTelemetry
//! spans (PetSearch, over OTLP). Ctrl-C then stops every child.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::demo::{is_running, Demo};

/// (name, type) of the nodes the map must show; `None` is a service's own node.
const NODES: &[(&str, Option<&str>)] = &[
    ("PetSite", None),
    ("PetSearch", None),
    ("payforadoption", None),
    ("petlistadoptions", None),
    ("PetAdoptionStatusUpdater/prod", Some("AWS::ApiGateway::Stage")),
    ("petstatusupdater", Some("AWS::Lambda::Function")),
    ("PetAdoptionsStepFn", Some("AWS::StepFunctions::StateMachine")),
    ("lambda_step_readDDB", Some("AWS::Lambda::Function")),
    ("DynamoDB", Some("AWS::DynamoDB::Table")),
    ("SQS", Some("AWS::SQS::Queue")),
    ("SNS", Some("AWS::SNS::Topic")),
    ("petadoptions@localhost", Some("Database::SQL")),
    ("amazon.com", Some("remote")),
];

const EDGES: &[(&str, &str)] = &[
    ("PetSite", "PetSearch"),
    ("PetSite", "payforadoption"),
    ("PetSite", "petlistadoptions"),
    ("PetSite", "SQS"),
    ("PetSite", "SNS"),
    ("PetSite", "PetAdoptionsStepFn"),
    ("PetAdoptionsStepFn", "lambda_step_readDDB"),
    ("lambda_step_readDDB", "DynamoDB"),
    ("PetSearch", "DynamoDB"),
    ("payforadoption", "PetAdoptionStatusUpdater/prod"),
    ("PetAdoptionStatusUpdater/prod", "petstatusupdater"),
    ("petstatusupdater", "DynamoDB"),
    ("payforadoption", "petadoptions@localhost"),
    ("payforadoption", "amazon.com"),
    ("petlistadoptions", "PetSearch"),
    ("petlistadoptions", "petadoptions@localhost"),
];

pub(crate) fn window() -> Value {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    json!({"StartTime": now - 900, "EndTime": now + 60})
}

/// (name, type) of a node, or (from name, to name) of an edge.
type Pairs = BTreeSet<(String, String)>;

/// The map's nodes and edges.
fn service_map(demo: &Demo) -> (Pairs, Pairs) {
    let graph = demo.post("/ServiceGraph", window());
    let services = graph["Services"].as_array().unwrap();
    let names: HashMap<i64, String> =
        services.iter().map(|s| (s["ReferenceId"].as_i64().unwrap(), s["Name"].as_str().unwrap().to_owned())).collect();
    let mut nodes = BTreeSet::new();
    let mut edges = BTreeSet::new();
    for service in services {
        let name = service["Name"].as_str().unwrap().to_owned();
        nodes.insert((name.clone(), service["Type"].as_str().unwrap_or_default().to_owned()));
        for edge in service["Edges"].as_array().into_iter().flatten() {
            edges.insert((name.clone(), names[&edge["ReferenceId"].as_i64().unwrap()].clone()));
        }
    }
    (nodes, edges)
}

fn missing(nodes: &Pairs, edges: &Pairs) -> Vec<String> {
    let mut missing = Vec::new();
    for (name, node_type) in NODES {
        let found = nodes.iter().any(|(n, t)| n == name && node_type.is_none_or(|expected| t == expected));
        if !found {
            missing.push(format!("node {name} {node_type:?}"));
        }
    }
    for (from, to) in EDGES {
        if !edges.contains(&((*from).to_owned(), (*to).to_owned())) {
            missing.push(format!("edge {from} -> {to}"));
        }
    }
    missing
}

/// A person's bunny adoption: the workflow only runs for bunnies, and the traffic's picks are
/// random.
fn adopt_a_bunny(demo: &Demo) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let page = runtime.block_on(async {
        let form = [("petId", "025"), ("pettype", "bunny")];
        let response = reqwest::Client::new()
            .post(format!("{}/Payment/MakePayment", demo.petsite))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.text().await.unwrap()
    });
    assert!(page.contains("<strong id=\"txStatus\">success</strong>"), "{page}");
}

/// A trace holding PetSite's X-Ray segment and PetSearch's OTLP spans, joined parent to child.
fn mixed_trace(demo: &Demo) -> Option<(Value, Value)> {
    let filter = json!({"FilterExpression": "service(\"PetSite\") AND service(\"PetSearch\")"});
    let mut request = window();
    request["FilterExpression"] = filter["FilterExpression"].clone();
    let summaries = demo.post("/TraceSummaries", request);
    for summary in summaries["TraceSummaries"].as_array()?.iter().take(20) {
        let traces = demo.post("/Traces", json!({"TraceIds": [summary["Id"]]}));
        let documents: Vec<Value> = traces["Traces"][0]["Segments"]
            .as_array()?
            .iter()
            .map(|segment| serde_json::from_str(segment["Document"].as_str().unwrap()).unwrap())
            .collect();
        let petsite = documents.iter().find(|d| d["name"] == "PetSite");
        let petsearch = documents.iter().find(|d| d["name"] == "PetSearch");
        if let (Some(petsite), Some(petsearch)) = (petsite, petsearch) {
            return Some((petsite.clone(), petsearch.clone()));
        }
    }
    None
}

fn subsegment_ids(entity: &Value, ids: &mut Vec<String>) {
    for subsegment in entity["subsegments"].as_array().into_iter().flatten() {
        ids.push(subsegment["id"].as_str().unwrap().to_owned());
        subsegment_ids(subsegment, ids);
    }
}

fn subsegment_names(entity: &Value, names: &mut Vec<String>) {
    for subsegment in entity["subsegments"].as_array().into_iter().flatten() {
        names.push(subsegment["name"].as_str().unwrap().to_owned());
        subsegment_names(subsegment, names);
    }
}

#[test]
fn fluoro_demo_fills_the_map_and_joins_xray_and_otlp_in_one_trace() {
    let dir = tempfile::tempdir().unwrap();
    let demo = Demo::start(dir.path());
    adopt_a_bunny(&demo);
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut left = Vec::new();
    while Instant::now() < deadline {
        let (nodes, edges) = service_map(&demo);
        left = missing(&nodes, &edges);
        if left.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_secs(2));
    }
    assert!(left.is_empty(), "the map lacks {left:?}");

    let (petsite, petsearch) = mixed_trace(&demo).expect("a trace with PetSite and PetSearch");
    // PetSite's segment came from the X-Ray side (its SDK stamp), PetSearch's from OTLP, and
    // PetSearch's parent is PetSite's HTTP call subsegment.
    assert_eq!(petsite["aws"]["xray"]["sdk"], "fluoro-demo");
    let mut ids = Vec::new();
    subsegment_ids(&petsite, &mut ids);
    assert!(ids.iter().any(|id| petsearch["parent_id"] == id.as_str()), "{petsearch}");
    let mut names = Vec::new();
    subsegment_names(&petsearch, &mut names);
    assert!(names.iter().any(|n| n == "Scanning DynamoDB Table"), "{names:?}");

    let (status, children) = demo.interrupt();
    assert!(status.success(), "fluoro demo exited with {status}");
    assert_eq!(children.len(), 10, "serve, daemon and 8 services were started");
    let left: Vec<u32> = children.into_iter().filter(|pid| is_running(*pid)).collect();
    assert!(left.is_empty(), "children left running after Ctrl-C: {left:?}");
}
