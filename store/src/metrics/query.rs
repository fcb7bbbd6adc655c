//! Reading metric points back: one metric of one service over a time range (every series of
//! it, each in time order), and the metrics sent over a range.

use std::collections::BTreeSet;

use fluoro_proto::{MetricKind, MetricPoint};
use polars::prelude::*;
use serde::{Deserialize, Serialize};

use super::block::{read_names, read_points, NAME, SERVICE, TIME_US};
use super::{MetricStore, StoredPoint};
use crate::block::BlockMeta;
use crate::error::Result;

/// The points of one metric of one service with `time_us` in `[from_us, to_us)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetricQuery {
    pub service: String,
    pub name: String,
    pub from_us: i64,
    pub to_us: i64,
}

/// A metric some service sent.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct MetricName {
    pub service: String,
    pub name: String,
    pub unit: String,
    pub kind: MetricKind,
}

impl MetricStore {
    /// The points `query` selects, by series (attributes), then time and arrival.
    pub(crate) fn metric_points(&self, query: &MetricQuery) -> Result<Vec<MetricPoint>> {
        let selected = |point: &StoredPoint| {
            let row = &point.row;
            row.time_us >= query.from_us
                && row.time_us < query.to_us
                && row.service == query.service
                && row.name == query.name
        };
        let (mut found, blocks) = self.snapshot(selected);
        let predicate = time_predicate(query.from_us, query.to_us)
            .and(col(SERVICE).eq(lit(query.service.clone())))
            .and(col(NAME).eq(lit(query.name.clone())));
        for block in blocks.iter().filter(|block| overlaps(block, Some(&query.service), query.from_us, query.to_us)) {
            found.extend(read_points(block, predicate.clone())?);
        }
        found.sort_by(|a, b| {
            a.row.attributes.cmp(&b.row.attributes).then((a.row.time_us, a.sequence).cmp(&(b.row.time_us, b.sequence)))
        });
        Ok(found.into_iter().map(|point| point.row).collect())
    }

    /// The metrics sent in `[from_us, to_us)` (by `service` only, when given), sorted.
    pub(crate) fn metric_names(&self, service: Option<&str>, from_us: i64, to_us: i64) -> Result<Vec<MetricName>> {
        let selected = |point: &StoredPoint| {
            let row = &point.row;
            row.time_us >= from_us && row.time_us < to_us && service.is_none_or(|service| row.service == service)
        };
        let (recent, blocks) = self.snapshot(selected);
        let mut names: BTreeSet<MetricName> = recent
            .into_iter()
            .map(|point| MetricName {
                service: point.row.service,
                name: point.row.name,
                unit: point.row.unit,
                kind: point.row.kind,
            })
            .collect();
        let mut predicate = time_predicate(from_us, to_us);
        if let Some(service) = service {
            predicate = predicate.and(col(SERVICE).eq(lit(service.to_owned())));
        }
        for block in blocks.iter().filter(|block| overlaps(block, service, from_us, to_us)) {
            for (service, name, unit, kind) in read_names(block, predicate.clone())? {
                // A kind this version does not know is left out rather than failing the list.
                if let Some(kind) = MetricKind::from_name(&kind) {
                    names.insert(MetricName { service, name, unit, kind });
                }
            }
        }
        Ok(names.into_iter().collect())
    }
}

fn time_predicate(from_us: i64, to_us: i64) -> Expr {
    col(TIME_US).gt_eq(lit(from_us)).and(col(TIME_US).lt(lit(to_us)))
}

fn overlaps(block: &BlockMeta, service: Option<&str>, from_us: i64, to_us: i64) -> bool {
    let has_service = service.is_none_or(|service| block.services.iter().any(|known| known == service));
    has_service && block.min_start_us < to_us && block.max_end_us >= from_us
}
