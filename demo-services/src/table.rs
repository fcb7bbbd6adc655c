//! The pets table (DynamoDB semantics that matter to the scenarios, spec §3.1 and §6): items
//! keyed by (`pettype`, `petid`), Scan reading the whole table whatever the filter, and a
//! capacity model.
//!
//! - Provisioned billing: read and write token buckets refilled at 5 units per second, holding
//!   at most 300 s of unused capacity (DynamoDB's burst credit), starting with 60 s of it, so
//!   one traffic generator runs clear and five drain it within a minute. A request that finds too few tokens is refused with
//!   `ProvisionedThroughputExceededException` and consumes nothing.
//! - On-demand billing: nothing is refused.
//! - Costs as the service counts them: a Scan (eventually consistent) costs
//!   ceil(table bytes / 4 KiB) × 0.5 RCU, a Query 0.5 RCU, each written item 1 WCU.

use std::collections::BTreeMap;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::seed::Pet;

pub(crate) const TABLE_NAME: &str = "PetAdoptions-Pets";
pub(crate) const PROVISIONED_UNITS_PER_SECOND: f64 = 5.0;
const BURST_SECONDS: f64 = 300.0;
/// Burst credit a new table starts with, in seconds of provisioned capacity.
const INITIAL_CREDIT_SECONDS: f64 = 60.0;
const READ_UNIT_BYTES: f64 = 4096.0;

/// `PROVISIONED` (5 RCU / 5 WCU) or `PAY_PER_REQUEST`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BillingMode {
    Provisioned,
    OnDemand,
}

/// A refused request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Throttled;

#[derive(Debug)]
struct TokenBucket {
    tokens: f64,
    refilled: Instant,
}

impl TokenBucket {
    fn new(now: Instant) -> Self {
        TokenBucket { tokens: INITIAL_CREDIT_SECONDS * PROVISIONED_UNITS_PER_SECOND, refilled: now }
    }

    fn take(&mut self, cost: f64, now: Instant) -> Result<(), Throttled> {
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        let capacity = PROVISIONED_UNITS_PER_SECOND * BURST_SECONDS;
        self.tokens = (self.tokens + elapsed * PROVISIONED_UNITS_PER_SECOND).min(capacity);
        self.refilled = now;
        if self.tokens < cost {
            return Err(Throttled);
        }
        self.tokens -= cost;
        Ok(())
    }
}

/// The counters the original's alarms watch.
#[derive(Debug, Default, Clone, Copy, Serialize)]
pub(crate) struct TableCounters {
    pub consumed_read_units: f64,
    pub consumed_write_units: f64,
    pub read_throttle_events: u64,
    pub write_throttle_events: u64,
}

#[derive(Debug)]
pub(crate) struct PetsTable {
    items: BTreeMap<(String, String), Pet>,
    billing: BillingMode,
    reads: TokenBucket,
    writes: TokenBucket,
    counters: TableCounters,
}

impl PetsTable {
    pub(crate) fn new(billing: BillingMode, now: Instant) -> Self {
        PetsTable {
            items: BTreeMap::new(),
            billing,
            reads: TokenBucket::new(now),
            writes: TokenBucket::new(now),
            counters: TableCounters::default(),
        }
    }

    pub(crate) fn billing(&self) -> BillingMode {
        self.billing
    }

    pub(crate) fn set_billing(&mut self, billing: BillingMode) {
        self.billing = billing;
    }

    pub(crate) fn counters(&self) -> TableCounters {
        self.counters
    }

    /// Every item matching all `filters` (attribute → value); reads the whole table.
    pub(crate) fn scan(&mut self, filters: &[(String, String)], now: Instant) -> Result<Vec<Pet>, Throttled> {
        let bytes: usize = self.items.values().map(item_bytes).sum();
        let cost = (bytes as f64 / READ_UNIT_BYTES).ceil().max(1.0) * 0.5;
        self.read(cost, now)?;
        Ok(self.items.values().filter(|pet| matches(pet, filters)).cloned().collect())
    }

    pub(crate) fn query(&mut self, pettype: &str, petid: &str, now: Instant) -> Result<Option<Pet>, Throttled> {
        self.read(0.5, now)?;
        Ok(self.items.get(&(pettype.to_owned(), petid.to_owned())).cloned())
    }

    /// Sets `availability` on one item (creating nothing if it is absent, as UpdateItem on a
    /// missing key would create a sparse item the demo never reads).
    pub(crate) fn update_availability(
        &mut self,
        pettype: &str,
        petid: &str,
        availability: &str,
        now: Instant,
    ) -> Result<(), Throttled> {
        self.write(1.0, now)?;
        if let Some(pet) = self.items.get_mut(&(pettype.to_owned(), petid.to_owned())) {
            pet.availability = availability.to_owned();
        }
        Ok(())
    }

    pub(crate) fn batch_write(&mut self, pets: Vec<Pet>, now: Instant) -> Result<(), Throttled> {
        self.write(pets.len() as f64, now)?;
        for pet in pets {
            self.items.insert((pet.pettype.clone(), pet.petid.clone()), pet);
        }
        Ok(())
    }

    fn read(&mut self, cost: f64, now: Instant) -> Result<(), Throttled> {
        if self.billing == BillingMode::Provisioned && self.reads.take(cost, now).is_err() {
            self.counters.read_throttle_events += 1;
            return Err(Throttled);
        }
        self.counters.consumed_read_units += cost;
        Ok(())
    }

    fn write(&mut self, cost: f64, now: Instant) -> Result<(), Throttled> {
        if self.billing == BillingMode::Provisioned && self.writes.take(cost, now).is_err() {
            self.counters.write_throttle_events += 1;
            return Err(Throttled);
        }
        self.counters.consumed_write_units += cost;
        Ok(())
    }
}

fn item_bytes(pet: &Pet) -> usize {
    // Attribute names plus values, as DynamoDB sizes an item.
    let values =
        [&pet.pettype, &pet.petid, &pet.petcolor, &pet.availability, &pet.price, &pet.cuteness_rate, &pet.image];
    values.iter().map(|value| value.len()).sum::<usize>() + 60
}

fn matches(pet: &Pet, filters: &[(String, String)]) -> bool {
    filters.iter().all(|(attribute, value)| {
        let actual = match attribute.as_str() {
            "pettype" => &pet.pettype,
            "petid" => &pet.petid,
            "petcolor" => &pet.petcolor,
            "availability" => &pet.availability,
            _ => return false,
        };
        actual == value
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::seed::seed_pets;

    #[test]
    fn provisioned_capacity_throttles_a_burst_and_on_demand_does_not() {
        let start = Instant::now();
        let mut table = PetsTable::new(BillingMode::Provisioned, start);
        table.batch_write(seed_pets(), start).unwrap();
        // 26 items ≈ 2.7 KiB: one Scan costs 0.5 RCU; 60 s of credit and 10 s of refill pay
        // for 700 Scans.
        let at = start + Duration::from_secs(10);
        let served = (0..1000).filter(|_| table.scan(&[], at).is_ok()).count();
        assert_eq!(served, 700);
        assert_eq!(table.counters().read_throttle_events, 300);
        table.set_billing(BillingMode::OnDemand);
        assert_eq!(table.scan(&[("pettype".into(), "bunny".into())], at).unwrap().len(), 4);
    }

    #[test]
    fn writes_are_refused_beyond_the_write_capacity() {
        let start = Instant::now();
        let mut table = PetsTable::new(BillingMode::Provisioned, start);
        // 300 WCU of credit: 11 seedings of 26 items, not 12.
        for _ in 0..11 {
            table.batch_write(seed_pets(), start).unwrap();
        }
        assert_eq!(table.batch_write(seed_pets(), start), Err(Throttled));
        assert_eq!(table.counters().write_throttle_events, 1);
        table.batch_write(seed_pets(), start + Duration::from_secs(6)).unwrap();
        let pet = table.query("bunny", "025", start + Duration::from_secs(7)).unwrap().unwrap();
        assert_eq!(pet.price, "55");
    }
}
