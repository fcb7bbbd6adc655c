//! The services, one module each, and the runner that serves one of them in this process.

pub(crate) mod aws;
pub(crate) mod payforadoption;
pub(crate) mod pethistory;
pub(crate) mod petlistadoptions;
pub(crate) mod petsearch;
pub(crate) mod petsite;
mod petsite_pages;
pub(crate) mod statusupdater;
pub(crate) mod stepfunctions;

use std::future::Future;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;

use crate::config::ServiceConfig;
use crate::error::{DemoError, Result};
use crate::otel::Otel;
use crate::sampling::Sampler;
use crate::sql::Database;
use crate::table::BillingMode;
use crate::xray::XrayEmitter;

/// The processes of the demo, in the order `fluoro demo` starts them (dependencies first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServiceName {
    /// The local AWS stand-in: table, bucket, queue, topic, `amazon.com`.
    Aws,
    PetSearch,
    StatusUpdater,
    StepFunctions,
    PetHistory,
    PayForAdoption,
    PetListAdoptions,
    PetSite,
}

impl ServiceName {
    pub const ALL: [ServiceName; 8] = [
        ServiceName::Aws,
        ServiceName::PetSearch,
        ServiceName::StatusUpdater,
        ServiceName::StepFunctions,
        ServiceName::PetHistory,
        ServiceName::PayForAdoption,
        ServiceName::PetListAdoptions,
        ServiceName::PetSite,
    ];

    /// The name on the command line (`fluoro demo-service NAME`).
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceName::Aws => "aws",
            ServiceName::PetSearch => "petsearch",
            ServiceName::StatusUpdater => "petstatusupdater",
            ServiceName::StepFunctions => "stepfunctions",
            ServiceName::PetHistory => "petadoptionshistory",
            ServiceName::PayForAdoption => "payforadoption",
            ServiceName::PetListAdoptions => "petlistadoptions",
            ServiceName::PetSite => "petsite",
        }
    }
}

impl FromStr for ServiceName {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        ServiceName::ALL.into_iter().find(|name| name.as_str() == text).ok_or_else(|| {
            let names: Vec<&str> = ServiceName::ALL.iter().map(|name| name.as_str()).collect();
            format!("unknown demo service {text:?}; expected one of {}", names.join(", "))
        })
    }
}

/// Serves `service` until `shutdown` completes; `on_ready` gets the bound address.
pub async fn serve(
    service: ServiceName,
    config: ServiceConfig,
    on_ready: impl FnOnce(SocketAddr),
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    std::fs::create_dir_all(&config.state_dir)
        .map_err(DemoError::io(format!("cannot create {}", config.state_dir.display())))?;
    let sampler = match service {
        ServiceName::PetSite | ServiceName::PayForAdoption => Some(Sampler::start(config.xray_sampling).await),
        _ => None,
    };
    let (router, otel) = build(service, &config, sampler)?;
    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .map_err(DemoError::io(format!("cannot listen on {}", config.bind)))?;
    let address = listener.local_addr().map_err(DemoError::io("no local address"))?;
    on_ready(address);
    let served = axum::serve(listener, router).with_graceful_shutdown(shutdown).await;
    if let Some(otel) = otel {
        // Flushing blocks on the exporters.
        let _ = tokio::task::spawn_blocking(move || otel.shutdown()).await;
    }
    served.map_err(DemoError::io("serving"))
}

fn build(
    service: ServiceName,
    config: &ServiceConfig,
    sampler: Option<Arc<Sampler>>,
) -> Result<(Router, Option<Otel>)> {
    let urls = &config.urls;
    let aws = || config.url("aws", &urls.aws);
    let emitter = || XrayEmitter::new(config.xray_daemon, sampler.clone());
    let otel = |name: &'static str| match &config.otlp_endpoint {
        Some(endpoint) => Otel::start(name, endpoint, Duration::from_millis(config.metrics_interval_ms)),
        None => {
            Err(DemoError::Config { path: "otlp_endpoint".into(), reason: format!("{name} needs an OTLP endpoint") })
        }
    };
    Ok(match service {
        ServiceName::Aws => (aws::router(&config.state_dir, BillingMode::Provisioned), None),
        ServiceName::PetSearch => {
            let otel = otel(petsearch::SERVICE_NAME)?;
            (petsearch::router(otel.clone(), aws()?), Some(otel))
        }
        ServiceName::PetListAdoptions => {
            let otel = otel(petlistadoptions::SERVICE_NAME)?;
            let database = Database::open(&config.state_dir)?;
            let petsearch = config.url("petsearch", &urls.petsearch)?;
            (petlistadoptions::router(otel.clone(), database, petsearch), Some(otel))
        }
        ServiceName::StatusUpdater => (statusupdater::router(emitter(), aws()?), None),
        ServiceName::StepFunctions => (stepfunctions::router(emitter(), aws()?), None),
        ServiceName::PetHistory => (pethistory::router(Database::open(&config.state_dir)?), None),
        ServiceName::PayForAdoption => {
            let otel = otel(payforadoption::SERVICE_NAME)?;
            let dependencies = payforadoption::Dependencies {
                emitter: emitter(),
                otel: otel.clone(),
                database: Database::open(&config.state_dir)?,
                aws_base: aws()?,
                status_updater: config.url("petstatusupdater", &urls.statusupdater)?,
                state_dir: config.state_dir.clone(),
                memory_cap_mib: config.memory_cap_mib,
            };
            (payforadoption::router(dependencies), Some(otel))
        }
        ServiceName::PetSite => {
            let site_urls = petsite::PetSiteUrls {
                petsearch: config.url("petsearch", &urls.petsearch)?,
                payforadoption: config.url("payforadoption", &urls.payforadoption)?,
                petlistadoptions: config.url("petlistadoptions", &urls.petlistadoptions)?,
                pethistory: config.url("petadoptionshistory", &urls.pethistory)?,
                stepfunctions: config.url("stepfunctions", &urls.stepfunctions)?,
                aws: aws()?,
            };
            (petsite::router(emitter(), site_urls), None)
        }
    })
}
