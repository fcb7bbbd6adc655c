//! `fluoro demo-service NAME --config FILE`: one PetAdoptions service in this process, as
//! `fluoro demo` starts them. Prints `fluoro demo-service: listening NAME ADDR` once it
//! listens; stops on SIGINT, SIGTERM, or when its standard input closes (the parent `fluoro
//! demo` is gone, even if it was killed), so no service outlives its demo.

use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use fluoro_demo_services::{ServiceConfig, ServiceName};
use tokio::sync::watch;

use crate::serve::wait_for_stop_signal;

/// In-flight requests get this long to finish after the stop (a bunny search takes 3 s).
const GRACE: Duration = Duration::from_secs(5);

#[derive(Args)]
pub(crate) struct DemoServiceArgs {
    /// aws, petsearch, petstatusupdater, stepfunctions, petadoptionshistory, payforadoption,
    /// petlistadoptions or petsite.
    name: ServiceName,
    /// The JSON configuration `fluoro demo` writes (bind address, state dir, URLs).
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
}

pub(crate) fn run(args: DemoServiceArgs) -> anyhow::Result<()> {
    let config = ServiceConfig::load(&args.config)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let (stop_sender, stop) = watch::channel(false);
    watch_stdin(stop_sender.clone());
    runtime.block_on(async move {
        tokio::spawn(async move {
            let _ = wait_for_stop_signal().await;
            let _ = stop_sender.send(true);
        });
        let mut stopped = stop.clone();
        tokio::spawn(async move {
            let _ = stopped.wait_for(|stop| *stop).await;
            tokio::time::sleep(GRACE).await;
            std::process::exit(0);
        });
        let name = args.name.as_str();
        let on_ready = |address| println!("fluoro demo-service: listening {name} {address}");
        let mut shutdown = stop.clone();
        let shutdown = async move {
            let _ = shutdown.wait_for(|stop| *stop).await;
        };
        fluoro_demo_services::serve(args.name, config, on_ready, shutdown).await?;
        anyhow::Ok(())
    })
}

/// Standard input is a pipe from `fluoro demo`; its end means the parent is gone.
fn watch_stdin(stop: watch::Sender<bool>) {
    std::thread::spawn(move || {
        let mut sink = [0u8; 256];
        let mut stdin = std::io::stdin();
        while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
        let _ = stop.send(true);
    });
}
