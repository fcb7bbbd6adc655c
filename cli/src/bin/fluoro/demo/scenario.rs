//! The scenarios, switched while the demo runs: `fluoro demo scenario …` posts to a small
//! control endpoint the running demo serves on loopback (its address is in the data dir's
//! `control.addr`).
//!
//! | scenario | what changes |
//! |---|---|
//! | `traffic N` | N traffic generators side by side (the seed's ×5 makes the table throttle) |
//! | `billing on-demand\|provisioned` | the pets table's billing mode (on-demand is the fix) |
//! | `errormode1 on\|off` | `/petstore/errormode1`: bunny payments wait 1 s, keep 32 MiB, fail with HTTP 500 "Illegal memory allocation"; payforadoption aborts at its memory cap and is restarted |
//!
//! Bunny searches are always slower than 3 s, as in the original (PetSearch's deliberate sleep).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use clap::{Subcommand, ValueEnum};
use fluoro_demo_services::{BillingMode, TrafficConfig};
use serde::{Deserialize, Serialize};
use tokio::sync::{watch, Mutex};
use tokio::task::JoinHandle;

/// The control endpoint's address, in the data dir while the demo runs.
pub(crate) const CONTROL_FILE: &str = "control.addr";
/// More generators than this would only measure this machine.
const MAX_GENERATORS: usize = 50;

#[derive(Subcommand, Clone, Debug)]
pub(crate) enum Scenario {
    /// Run N traffic generators side by side (the original runs 1; the throttling scenario 5).
    Traffic {
        #[arg(value_name = "N")]
        generators: usize,
    },
    /// The pets table's billing mode: provisioned (5 RCU / 5 WCU, throttles under load) or
    /// on-demand (the fix).
    Billing {
        #[arg(value_enum)]
        mode: Billing,
    },
    /// The payment memory fault: bunny payments wait 1 s, keep 32 MiB and fail with HTTP 500
    /// "Illegal memory allocation" until payforadoption reaches its memory cap, aborts and is
    /// restarted.
    Errormode1 {
        #[arg(value_enum)]
        state: Switch,
    },
    /// Show the current scenario.
    Show,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Billing {
    Provisioned,
    OnDemand,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Switch {
    On,
    Off,
}

/// One change, as posted to the control endpoint.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Change {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    traffic: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    billing: Option<Billing>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    errormode1: Option<Switch>,
}

/// The traffic generators, added and removed one by one.
pub(crate) struct Traffic {
    config: TrafficConfig,
    generators: Vec<(watch::Sender<bool>, JoinHandle<()>)>,
}

impl Traffic {
    pub(crate) fn new(config: TrafficConfig) -> Traffic {
        Traffic { config, generators: Vec::new() }
    }

    pub(crate) fn set(&mut self, count: usize) {
        while self.generators.len() < count {
            let (stop, stopped) = watch::channel(false);
            let task = tokio::spawn(fluoro_demo_services::run_generator(self.config.clone(), stopped));
            self.generators.push((stop, task));
        }
        while self.generators.len() > count {
            if let Some((stop, _task)) = self.generators.pop() {
                let _ = stop.send(true);
            }
        }
    }

    pub(crate) fn count(&self) -> usize {
        self.generators.len()
    }

    pub(crate) async fn stop(&mut self) {
        for (stop, task) in self.generators.drain(..) {
            let _ = stop.send(true);
            let _ = task.await;
        }
    }
}

/// What the control endpoint changes.
pub(crate) struct Controls {
    pub(crate) traffic: Mutex<Traffic>,
    pub(crate) aws: String,
    pub(crate) state_dir: PathBuf,
    pub(crate) http: reqwest::Client,
}

/// Serves the control endpoint on a free loopback port and writes its address to the data dir.
pub(crate) async fn serve_controls(controls: Arc<Controls>, data_dir: &Path) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    std::fs::write(data_dir.join(CONTROL_FILE), address.to_string())?;
    let router = Router::new().route("/scenario", get(show).post(change)).with_state(controls);
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Ok(address)
}

async fn show(State(controls): State<Arc<Controls>>) -> Response {
    match current(&controls).await {
        Ok(state) => Json(state).into_response(),
        Err(error) => (StatusCode::BAD_GATEWAY, error.to_string()).into_response(),
    }
}

async fn current(controls: &Controls) -> anyhow::Result<serde_json::Value> {
    let billing: serde_json::Value =
        controls.http.get(format!("{}/control/billing", controls.aws)).send().await?.json().await?;
    let errormode1 = fluoro_demo_services::get_parameter(&controls.state_dir, fluoro_demo_services::ERRORMODE1);
    Ok(serde_json::json!({
        "traffic": controls.traffic.lock().await.count(),
        "billing": billing["billing"],
        "errormode1": if errormode1.as_deref() == Some("true") { "on" } else { "off" },
    }))
}

async fn change(State(controls): State<Arc<Controls>>, Json(change): Json<Change>) -> Response {
    match apply(&controls, change).await {
        Ok(()) => show(State(controls)).await,
        Err(error) => (StatusCode::BAD_REQUEST, error.to_string()).into_response(),
    }
}

async fn apply(controls: &Controls, change: Change) -> anyhow::Result<()> {
    if let Some(count) = change.traffic {
        if count > MAX_GENERATORS {
            bail!("traffic must be between 0 and {MAX_GENERATORS}, not {count}");
        }
        controls.traffic.lock().await.set(count);
    }
    if let Some(billing) = change.billing {
        let mode = match billing {
            Billing::Provisioned => BillingMode::Provisioned,
            Billing::OnDemand => BillingMode::OnDemand,
        };
        let url = format!("{}/control/billing", controls.aws);
        let answer = controls.http.put(url).json(&serde_json::json!({"billing": mode})).send().await?;
        if !answer.status().is_success() {
            bail!("the table refused the billing mode: {}", answer.status());
        }
    }
    if let Some(state) = change.errormode1 {
        let value = if state == Switch::On { "true" } else { "false" };
        fluoro_demo_services::put_parameter(&controls.state_dir, fluoro_demo_services::ERRORMODE1, value)?;
    }
    Ok(())
}

/// `fluoro demo scenario …`: the change, posted to the demo running on `data_dir`.
pub(crate) fn run(data_dir: &Path, scenario: Scenario) -> anyhow::Result<()> {
    let file = data_dir.join(CONTROL_FILE);
    let address = std::fs::read_to_string(&file)
        .with_context(|| format!("no running demo on {} (no {})", data_dir.display(), file.display()))?;
    let change = match scenario {
        Scenario::Traffic { generators } => Change { traffic: Some(generators), ..Change::default() },
        Scenario::Billing { mode } => Change { billing: Some(mode), ..Change::default() },
        Scenario::Errormode1 { state } => Change { errormode1: Some(state), ..Change::default() },
        Scenario::Show => Change::default(),
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let url = format!("http://{}/scenario", address.trim());
        let answer = reqwest::Client::new()
            .post(url)
            .json(&change)
            .send()
            .await
            .with_context(|| format!("the demo on {} does not answer; is it still running?", data_dir.display()))?;
        let status = answer.status();
        let text = answer.text().await?;
        if !status.is_success() {
            bail!("the demo refused the change: {text}");
        }
        println!("{text}");
        Ok(())
    })
}
