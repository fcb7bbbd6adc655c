//! The traffic generator (spec §4): one loop of strictly sequential, untraced requests against
//! PetSite and PetSearch, paced like the original: housekeeping first, a full search, then
//! 5–25 search → take me home → pay → list rounds, 20 s pause, 100 s after an error. `pace`
//! divides the pauses (tests run faster); the requests themselves are never sped up.

use std::time::Duration;

use rand::Rng;
use serde_json::Value;
use tokio::sync::watch;

const CYCLE_PAUSE: Duration = Duration::from_secs(20);
const ERROR_PAUSE: Duration = Duration::from_secs(100);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
pub struct TrafficConfig {
    pub petsite: String,
    pub petsearch: String,
    /// Speed-up of the pauses; 1 is the original's pacing.
    pub pace: f64,
}

/// Runs cycles until `stop` turns true.
pub async fn run_generator(config: TrafficConfig, mut stop: watch::Receiver<bool>) {
    let client = reqwest::Client::builder().timeout(REQUEST_TIMEOUT).build().unwrap_or_default();
    while !*stop.borrow() {
        let pause = tokio::select! {
            outcome = cycle(&client, &config) => match outcome {
                Ok(()) => CYCLE_PAUSE,
                Err(message) => {
                    eprintln!("trafficgenerator: cycle failed, backing off: {message}");
                    ERROR_PAUSE
                }
            },
            _ = stop.changed() => return,
        };
        let pause = pause.div_f64(config.pace.max(0.001));
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            _ = stop.changed() => return,
        }
    }
}

async fn cycle(client: &reqwest::Client, config: &TrafficConfig) -> Result<(), String> {
    let site = &config.petsite;
    send(client.get(format!("{site}/housekeeping/"))).await?;
    let response = send(client.get(format!("{}/api/search?", config.petsearch))).await?;
    if !response.status().is_success() {
        return Err(format!("the pet list answered {}", response.status()));
    }
    let pets: Vec<Value> = response.json().await.map_err(|error| error.to_string())?;
    if pets.len() < 6 {
        return Err(format!("only {} pets to choose from", pets.len()));
    }
    let load = rand::rng().random_range(5..pets.len());
    if load > 20 {
        send(client.delete(format!("{site}/pethistory/deletepetadoptionshistory"))).await?;
    } else {
        send(client.get(format!("{site}/pethistory"))).await?;
    }
    for _ in 0..load {
        // The last pet is never chosen: the original's off-by-one.
        let pet = &pets[rand::rng().random_range(0..pets.len() - 1)];
        let field = |name: &str| pet[name].as_str().unwrap_or_default().to_owned();
        let (pettype, petcolor, petid) = (field("pettype"), field("petcolor"), field("petid"));
        let search = [("selectedPetType", pettype.as_str()), ("selectedPetColor", petcolor.as_str())];
        send(client.get(format!("{site}/")).query(&search)).await?;
        let take = [("pettype", pettype.as_str()), ("petcolor", petcolor.as_str()), ("petid", petid.as_str())];
        send(client.post(format!("{site}/Adoption/TakeMeHome")).form(&take)).await?;
        let pay = [("pettype", pettype.as_str()), ("petId", petid.as_str())];
        send(client.post(format!("{site}/Payment/MakePayment")).form(&pay)).await?;
        send(client.get(format!("{site}/PetListAdoptions"))).await?;
    }
    Ok(())
}

async fn send(request: reqwest::RequestBuilder) -> Result<reqwest::Response, String> {
    request.send().await.map_err(|error| error.to_string())
}
