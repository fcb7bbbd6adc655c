//! PetSite (spec §2.1): the web front end that orchestrates the others, instrumented with
//! X-Ray as the original's .NET SDK is: a `PetSite` segment per request, the original's custom
//! subsegments ("Calling Search API", "Call Payment API", …) and an SDK subsegment for every
//! downstream HTTP and AWS call. Routes are matched case-insensitively, as MVC's are.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Router;
use serde_json::{json, Value};

use super::petsite_pages as pages;
use crate::aws_client::AwsClient;
use crate::propagation::TraceContext;
use crate::sampling::Request as SamplingRequest;
use crate::services::aws::{QUEUE_NAME, TOPIC_ARN};
use crate::services::stepfunctions::STATE_MACHINE_ARN;
use crate::xray::{XSpan, XrayEmitter};
use crate::xray_calls::{self, Resource};

pub(crate) const SERVICE_NAME: &str = "PetSite";
/// Form bodies are a few fields.
const MAX_FORM_BYTES: usize = 16 * 1024;

/// Where PetSite's dependencies are (the original reads them from the parameter store).
#[derive(Debug, Clone)]
pub(crate) struct PetSiteUrls {
    pub petsearch: String,
    pub payforadoption: String,
    pub petlistadoptions: String,
    pub pethistory: String,
    pub stepfunctions: String,
    pub aws: String,
}

#[derive(Debug)]
struct PetSite {
    emitter: Arc<XrayEmitter>,
    urls: PetSiteUrls,
    http: reqwest::Client,
    aws: AwsClient,
    stepfunctions: AwsClient,
}

/// One request's inputs: query and form fields together, as MVC model binding sees them.
struct Inputs(HashMap<String, String>);

impl Inputs {
    fn get(&self, name: &str) -> &str {
        // Model binding is case-insensitive too (`petId` and `petid`).
        self.0.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str()).unwrap_or_default()
    }
}

pub(crate) fn router(emitter: Arc<XrayEmitter>, urls: PetSiteUrls) -> Router {
    let state = Arc::new(PetSite {
        emitter,
        http: reqwest::Client::new(),
        aws: AwsClient::new(urls.aws.clone()),
        stepfunctions: AwsClient::new(urls.stepfunctions.clone()),
        urls,
    });
    Router::new().fallback(dispatch).with_state(state)
}

async fn dispatch(State(site): State<Arc<PetSite>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().trim_end_matches('/').to_ascii_lowercase();
    if path == "/health/status" {
        return "Alive".into_response();
    }
    let body = axum::body::to_bytes(body, MAX_FORM_BYTES).await.unwrap_or_default();
    let inputs = inputs(parts.uri.query(), &body);
    let host = parts.headers.get("host").and_then(|v| v.to_str().ok()).unwrap_or("petsite");
    let request =
        SamplingRequest { service: SERVICE_NAME, host, method: parts.method.as_str(), path: parts.uri.path() };
    let segment = XSpan::segment_for(&site.emitter, SERVICE_NAME, TraceContext::from_headers(&parts.headers), request);
    segment.http_request(parts.method.as_str(), &format!("http://{host}{}", parts.uri), None);
    let trace = segment.trace_id().to_string();
    let (status, page) = match (&parts.method, path.as_str()) {
        (&Method::GET, "" | "/home" | "/home/index") => home(&site, &segment, &inputs).await,
        (&Method::POST, "/adoption/takemehome") => take_me_home(&site, &segment, &inputs).await,
        (&Method::POST, "/payment/makepayment") => make_payment(&site, &segment, &inputs).await,
        (&Method::GET, "/petlistadoptions") => adoption_list(&site, &segment).await,
        (&Method::GET, "/housekeeping") => housekeeping(&site, &segment).await,
        (&Method::GET, "/pethistory") => history(&site, &segment, Method::GET, "Calling GetPetAdoptionsHistory").await,
        (&Method::DELETE, "/pethistory/deletepetadoptionshistory") => {
            history(&site, &segment, Method::DELETE, "Calling DeletePetAdoptionsHistory").await
        }
        _ => (StatusCode::NOT_FOUND, pages::error_page("No such page", &trace)),
    };
    segment.http_status(status.as_u16());
    segment.end();
    (status, Html(page)).into_response()
}

fn inputs(query: Option<&str>, body: &Bytes) -> Inputs {
    let mut fields: HashMap<String, String> =
        query.map(|query| serde_urlencoded_pairs(query.as_bytes())).unwrap_or_default();
    fields.extend(serde_urlencoded_pairs(body));
    Inputs(fields)
}

fn serde_urlencoded_pairs(bytes: &[u8]) -> HashMap<String, String> {
    url::form_urlencoded::parse(bytes).into_owned().collect()
}

/// The original's search query: `pettype=X`, then `&<previous>&petcolor=Y`, then
/// `&<previous>&petid=Z` (e.g. `&&pettype=bunny&petcolor=white&petid=023`).
pub(crate) fn search_query(pettype: &str, petcolor: &str, petid: &str) -> String {
    let set = |value: &str| !value.is_empty() && value != "all";
    let mut query = String::new();
    if set(pettype) {
        query = format!("pettype={pettype}");
    }
    if set(petcolor) {
        query = format!("&{query}&petcolor={petcolor}");
    }
    if set(petid) {
        query = format!("&{query}&petid={petid}");
    }
    query
}

/// "Calling Search API" and the search; a failed search is the exception that fails the page.
async fn search(
    site: &PetSite,
    segment: &XSpan,
    pettype: &str,
    petcolor: &str,
    petid: &str,
) -> Result<Vec<Value>, String> {
    let subsegment = segment.child("Calling Search API");
    subsegment.metadata("PetType", json!(pettype));
    subsegment.metadata("PetId", json!(petid));
    subsegment.metadata("PetColor", json!(petcolor));
    let url = format!("{}/api/search?{}", site.urls.petsearch, search_query(pettype, petcolor, petid));
    let answer = xray_calls::http(&subsegment, &site.http, "PetSearch", reqwest::Method::GET, &url, None, None).await;
    let result = match answer {
        Ok(answer) if answer.status == 200 => {
            serde_json::from_str::<Vec<Value>>(&answer.body).map_err(|error| format!("invalid search answer: {error}"))
        }
        Ok(answer) => Err(format!("Response status code does not indicate success: {}", answer.status)),
        Err(message) => Err(message),
    };
    if let Err(message) = &result {
        subsegment.exception("HttpRequestException", message, true);
    }
    subsegment.end();
    result
}

async fn home(site: &PetSite, segment: &XSpan, inputs: &Inputs) -> (StatusCode, String) {
    let (pettype, petcolor, petid) =
        (inputs.get("selectedPetType"), inputs.get("selectedPetColor"), inputs.get("petid"));
    let trace = segment.trace_id().to_string();
    match search(site, segment, pettype, petcolor, petid).await {
        Ok(pets) => {
            segment.metadata("results", Value::Array(pets.clone()));
            let (pettype, petcolor) = (or_all(pettype), or_all(petcolor));
            (StatusCode::OK, pages::search_page(&pets, pettype, petcolor, &trace))
        }
        Err(message) => failed(segment, &message),
    }
}

fn or_all(value: &str) -> &str {
    if value.is_empty() {
        "all"
    } else {
        value
    }
}

fn failed(segment: &XSpan, message: &str) -> (StatusCode, String) {
    let trace = segment.trace_id().to_string();
    eprintln!("[{trace}] {message}");
    segment.exception("HttpRequestException", message, false);
    (StatusCode::INTERNAL_SERVER_ERROR, pages::error_page(message, &trace))
}

async fn take_me_home(site: &PetSite, segment: &XSpan, inputs: &Inputs) -> (StatusCode, String) {
    let (pettype, petcolor, petid) = (inputs.get("pettype"), inputs.get("petcolor"), inputs.get("petid"));
    segment.metadata("PetType", json!(pettype));
    segment.metadata("PetId", json!(petid));
    segment.metadata("PetColor", json!(petcolor));
    match search(site, segment, pettype, petcolor, petid).await {
        Ok(pets) => (StatusCode::OK, pages::pet_page(pets.first(), &segment.trace_id().to_string())),
        Err(message) => failed(segment, &message),
    }
}

/// Pay, queue, notify, and for bunnies start the workflow; always a 200 page, `txStatus`
/// failure only when a step throws (the payment's status is not checked).
async fn make_payment(site: &PetSite, segment: &XSpan, inputs: &Inputs) -> (StatusCode, String) {
    let (pet_id, pettype) = (inputs.get("petId"), inputs.get("pettype"));
    segment.metadata("PetType", json!(pettype));
    segment.metadata("PetId", json!(pet_id));
    let outcome = payment_steps(site, segment, pet_id, pettype).await;
    let trace = segment.trace_id().to_string();
    match outcome {
        Ok(()) => (StatusCode::OK, pages::payment_page(pet_id, pettype, "success", None, &trace)),
        Err(message) => {
            eprintln!("[{trace}] payment failed: {message}");
            segment.exception("Exception", &message, false);
            (StatusCode::OK, pages::payment_page(pet_id, pettype, "failure", Some(&message), &trace))
        }
    }
}

async fn payment_steps(site: &PetSite, segment: &XSpan, pet_id: &str, pettype: &str) -> Result<(), String> {
    let payment = segment.child("Call Payment API");
    payment.annotate("PetId", pet_id);
    payment.annotate("PetType", pettype);
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("petId", pet_id)
        .append_pair("petType", pettype)
        .finish();
    let url = format!("{}/api/home/completeadoption?{query}", site.urls.payforadoption);
    let paid = xray_calls::http(&payment, &site.http, "payforadoption", reqwest::Method::POST, &url, None, None).await;
    payment.end();
    paid?;
    let queue_url = format!("{}/000000000000/{QUEUE_NAME}", site.urls.aws);
    let sqs = segment.child("Post Message to SQS");
    let body = json!({"QueueUrl": queue_url, "MessageBody": json!(format!("{pet_id}-{pettype}")).to_string()});
    let sent = xray_calls::aws(&sqs, &site.aws, "SQS", "SendMessage", Resource::Queue(&queue_url), body).await;
    sqs.end();
    aws_result(sent)?;
    let sns = segment.child("Send Notification");
    let message = format!("PetId {pet_id} was adopted on {}", crate::time::rfc3339(epoch_seconds()));
    let body = json!({"TopicArn": TOPIC_ARN, "Message": message});
    let published = xray_calls::aws(&sns, &site.aws, "SNS", "Publish", Resource::Topic(TOPIC_ARN), body).await;
    sns.end();
    aws_result(published)?;
    if pettype == "bunny" {
        let input = json!({"pettype": pettype, "petid": pet_id, "petcolor": null, "petavailability": null});
        let name = format!("{pettype}-{pet_id}-{}", uuid::Uuid::new_v4());
        let body = json!({"stateMachineArn": STATE_MACHINE_ARN, "name": name, "input": input.to_string()});
        let started = xray_calls::aws(
            segment,
            &site.stepfunctions,
            "StepFunctions",
            "StartExecution",
            Resource::StateMachine(STATE_MACHINE_ARN),
            body,
        )
        .await;
        aws_result(started)?;
    }
    Ok(())
}

fn aws_result(call: crate::aws_client::AwsCall) -> Result<(), String> {
    match call.error {
        None => Ok(()),
        Some((kind, message)) => Err(format!("{kind}: {message}")),
    }
}

fn epoch_seconds() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default()
}

async fn adoption_list(site: &PetSite, segment: &XSpan) -> (StatusCode, String) {
    let subsegment = segment.child("Calling PetListAdoptions");
    let url = format!("{}/api/adoptionlist/", site.urls.petlistadoptions);
    let answer =
        xray_calls::http(&subsegment, &site.http, "petlistadoptions", reqwest::Method::GET, &url, None, None).await;
    let result = match answer {
        Ok(answer) if answer.status == 200 => {
            serde_json::from_str::<Vec<Value>>(&answer.body).map_err(|error| format!("invalid adoption list: {error}"))
        }
        Ok(answer) => Err(format!("Response status code does not indicate success: {}", answer.status)),
        Err(message) => Err(message),
    };
    if let Err(message) = &result {
        subsegment.exception("HttpRequestException", message, true);
    }
    subsegment.end();
    match result {
        Ok(pets) => (StatusCode::OK, pages::adoption_list_page(&pets, &segment.trace_id().to_string())),
        Err(message) => failed(segment, &message),
    }
}

/// Cleanup and re-seeding; the answer's status is not checked (the original's quirk).
async fn housekeeping(site: &PetSite, segment: &XSpan) -> (StatusCode, String) {
    let url = format!("{}/api/home/cleanupadoptions", site.urls.payforadoption);
    let _ = xray_calls::http(segment, &site.http, "payforadoption", reqwest::Method::POST, &url, None, None).await;
    let text = "Adoptions moved to the history; every pet is available again.";
    (StatusCode::OK, pages::text_page("Housekeeping", text, &segment.trace_id().to_string()))
}

async fn history(site: &PetSite, segment: &XSpan, method: reqwest::Method, name: &str) -> (StatusCode, String) {
    let subsegment = segment.child(name);
    let url = format!("{}/petadoptionshistory/api/home/transactions", site.urls.pethistory);
    let answer = xray_calls::http(&subsegment, &site.http, "petadoptionshistory", method, &url, None, None).await;
    subsegment.end();
    let trace = segment.trace_id().to_string();
    match answer {
        Ok(answer) => (StatusCode::OK, pages::text_page("Adoption history", &answer.body, &trace)),
        Err(message) => failed(segment, &message),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_search_query_keeps_the_originals_shape() {
        assert_eq!(super::search_query("puppy", "brown", ""), "&pettype=puppy&petcolor=brown");
        assert_eq!(super::search_query("bunny", "white", "023"), "&&pettype=bunny&petcolor=white&petid=023");
        assert_eq!(super::search_query("all", "all", ""), "");
    }
}
