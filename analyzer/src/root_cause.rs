//! Root causes of one trace, spec 5.4's approximation of X-Ray's analysis:
//!
//! - Fault (error) root causes: every faulting (erroring) entity none of whose descendants
//!   faults (errs) — the deepest entities along faulting chains, even where a non-faulting
//!   entity sits between two faulting ones (a Lambda service segment, its `Invocation`
//!   subsegment, the function segment). One root cause each.
//! - Response-time root cause: the completed entity with the largest self time (its duration
//!   minus its children's), one per trace; each entity on its path carries `Coverage` = its
//!   duration / the root segment's response time.
//! - A root cause's `Services` is the path from the root segment to the cause, grouped by
//!   service: a segment opens a service, its subsegments extend that service's `EntityPath`.
//!   A cause that is a downstream call (aws/remote subsegment, callee not traced) ends the path
//!   in its inferred service, whose one entity is the call.
//! - `ClientImpacting`: the root segment has the same flag (for response time: always).

use std::collections::HashMap;

use serde::Serialize;

use crate::span_record::{inferred_identity, SpanRecord};

/// A `FaultRootCause`, `ErrorRootCause` or `ResponseTimeRootCause`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RootCause {
    pub services: Vec<RootCauseService>,
    pub client_impacting: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RootCauseService {
    pub name: String,
    pub names: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub r#type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    pub entity_path: Vec<RootCauseEntity>,
    pub inferred: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RootCauseEntity {
    pub name: String,
    /// Fault and error root causes only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exceptions: Option<Vec<RootCauseException>>,
    /// Response-time root causes only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coverage: Option<f64>,
    pub remote: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RootCauseException {
    pub name: String,
    pub message: String,
}

/// The three root-cause lists of one trace.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RootCauses {
    pub fault: Vec<RootCause>,
    pub error: Vec<RootCause>,
    pub response_time: Vec<RootCause>,
}

/// Which flag a causal chain follows.
#[derive(Clone, Copy)]
enum Flag {
    Fault,
    Error,
}

struct Tree<'a> {
    spans: &'a [SpanRecord],
    by_id: HashMap<u64, usize>,
    children: HashMap<u64, Vec<usize>>,
    root: usize,
}

/// Root causes of a trace from all its spans; `root` is the index of its root segment.
pub(crate) fn root_causes(spans: &[SpanRecord], root: usize) -> RootCauses {
    let mut by_id = HashMap::new();
    let mut children: HashMap<u64, Vec<usize>> = HashMap::new();
    for (index, span) in spans.iter().enumerate() {
        by_id.insert(span.id, index);
        if let Some(parent) = span.parent_id {
            children.entry(parent).or_default().push(index);
        }
    }
    let tree = Tree { spans, by_id, children, root };
    RootCauses {
        fault: tree.flag_causes(Flag::Fault),
        error: tree.flag_causes(Flag::Error),
        response_time: tree.response_time_cause().into_iter().collect(),
    }
}

impl Tree<'_> {
    fn flagged(&self, index: usize, flag: Flag) -> bool {
        let span = &self.spans[index];
        match flag {
            Flag::Fault => span.fault,
            Flag::Error => span.error,
        }
    }

    fn children_of(&self, index: usize) -> &[usize] {
        self.children.get(&self.spans[index].id).map(Vec::as_slice).unwrap_or(&[])
    }

    fn flag_causes(&self, flag: Flag) -> Vec<RootCause> {
        let client_impacting = self.flagged(self.root, flag);
        let mut has_flagged_descendant = vec![false; self.spans.len()];
        for index in (0..self.spans.len()).filter(|&index| self.flagged(index, flag)) {
            if let Some(path) = self.path(index) {
                for &ancestor in &path[..path.len() - 1] {
                    has_flagged_descendant[ancestor] = true;
                }
            }
        }
        (0..self.spans.len())
            .filter(|&index| self.flagged(index, flag) && !has_flagged_descendant[index])
            .filter_map(|index| self.path(index))
            .map(|path| RootCause { services: self.services(&path, None), client_impacting })
            .collect()
    }

    fn response_time_cause(&self) -> Option<RootCause> {
        let root_seconds = self.spans[self.root].seconds().filter(|seconds| *seconds > 0.0)?;
        let self_time = |index: usize| -> Option<f64> {
            let own = self.spans[index].seconds()?;
            let children: f64 = self.children_of(index).iter().filter_map(|&c| self.spans[c].seconds()).sum();
            Some((own - children).max(0.0))
        };
        let slowest = (0..self.spans.len())
            .filter_map(|index| Some((index, self_time(index)?)))
            .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))?
            .0;
        let path = self.path(slowest)?;
        Some(RootCause { services: self.services(&path, Some(root_seconds)), client_impacting: true })
    }

    /// Span indices from the root down to `index`; `None` if `index` does not descend from the
    /// root (its ancestors are missing). Cycles in bad data end the walk.
    fn path(&self, index: usize) -> Option<Vec<usize>> {
        let mut path = vec![index];
        let mut current = index;
        while current != self.root {
            let parent = self.spans[current].parent_id.and_then(|id| self.by_id.get(&id).copied())?;
            if path.contains(&parent) {
                return None;
            }
            path.push(parent);
            current = parent;
        }
        path.reverse();
        Some(path)
    }

    /// The path grouped by service; `root_seconds` makes response-time entities (coverage
    /// instead of exceptions).
    fn services(&self, path: &[usize], root_seconds: Option<f64>) -> Vec<RootCauseService> {
        let entity = |span: &SpanRecord| RootCauseEntity {
            name: span.name.clone(),
            exceptions: match root_seconds {
                Some(_) => None,
                None => Some(
                    span.exceptions
                        .iter()
                        .map(|(name, message)| RootCauseException { name: name.clone(), message: message.clone() })
                        .collect(),
                ),
            },
            coverage: root_seconds.and_then(|root| Some(span.seconds()? / root)),
            remote: span.remote,
        };
        let mut services: Vec<RootCauseService> = Vec::new();
        for (position, &index) in path.iter().enumerate() {
            let span = &self.spans[index];
            let last = position + 1 == path.len();
            if span.segment || services.is_empty() || (last && span.is_downstream_call()) {
                let inferred = !span.segment && span.is_downstream_call();
                let (name, node_type) = if inferred {
                    let (name, node_type) = inferred_identity(span);
                    (name, Some(node_type))
                } else if span.segment {
                    (span.name.clone(), span.origin.clone())
                } else {
                    (span.service.clone().unwrap_or_else(|| span.name.clone()), span.origin.clone())
                };
                services.push(RootCauseService {
                    names: vec![name.clone()],
                    name,
                    r#type: node_type,
                    account_id: span.account_id.clone().filter(|_| span.segment),
                    entity_path: Vec::new(),
                    inferred,
                });
            }
            if let Some(service) = services.last_mut() {
                service.entity_path.push(entity(span));
            }
        }
        services
    }
}
