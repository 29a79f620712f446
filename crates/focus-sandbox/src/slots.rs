//! Stream slots, derived from the cluster (never from memory alone).
//!
//! A job id is `<slot>-<seq>`; slot `n` streams on port `base + n`. A slot is busy
//! while its `grpc-job-*`, `cleanup-job-*` or `grpc-service-*` exists, or (when the
//! port check is on) while any Service in the cluster holds its NodePort.

use std::collections::BTreeSet;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Service;
use kube::api::ListParams;
use kube::{Api, Client};

use crate::names::{self, JobId};

/// What the cluster says about slots and ports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Usage {
    /// Slots named by an existing investigation object.
    pub named_slots: BTreeSet<u16>,
    /// NodePorts held by any Service.
    pub held_ports: BTreeSet<u16>,
    /// Highest seq seen in an object name.
    pub max_seq: u64,
}

impl Usage {
    /// Records one object name.
    pub fn note_name(&mut self, name: &str) {
        if let Some(id) = names::job_id_of(name).and_then(JobId::parse) {
            self.named_slots.insert(id.slot);
            self.max_seq = self.max_seq.max(id.seq);
        }
    }
}

/// Lists the investigation objects in `namespace` and the NodePorts of every Service.
pub async fn observe(client: &Client, namespace: &str) -> Result<Usage, kube::Error> {
    let jobs: Api<Job> = Api::namespaced(client.clone(), namespace);
    // NodePorts are cluster-wide; fall back to the namespace if listing all is forbidden.
    let all: Api<Service> = Api::all(client.clone());
    let lp = ListParams::default();
    let (jobs, services) = tokio::join!(jobs.list_metadata(&lp), all.list(&lp));
    let services = match services {
        Ok(list) => list,
        Err(kube::Error::Api(s)) if s.is_forbidden() => {
            Api::<Service>::namespaced(client.clone(), namespace)
                .list(&lp)
                .await?
        }
        Err(e) => return Err(e),
    };
    let mut usage = Usage::default();
    for job in jobs? {
        if let Some(name) = job.metadata.name.as_deref() {
            usage.note_name(name);
        }
    }
    for svc in services {
        if svc.metadata.namespace.as_deref() == Some(namespace)
            && let Some(name) = svc.metadata.name.as_deref()
        {
            usage.note_name(name);
        }
        let ports = svc.spec.and_then(|s| s.ports).unwrap_or_default();
        for p in ports {
            if let Some(np) = p.node_port.and_then(|n| u16::try_from(n).ok()) {
                usage.held_ports.insert(np);
            }
        }
    }
    Ok(usage)
}

/// Inputs of a slot choice besides the cluster's view.
#[derive(Debug, Clone, Copy)]
pub struct Choice<'a> {
    /// Slots reserved by configures in flight.
    pub reserved: &'a BTreeSet<u16>,
    /// Slots this process will never reuse (the `slot-leak` defect).
    pub leaked: &'a BTreeSet<u16>,
    /// Slots known to be unusable in this attempt (their Service creation failed).
    pub excluded: &'a BTreeSet<u16>,
    /// Number of slots.
    pub max_slots: u16,
    /// Port of slot 0.
    pub base_port: u16,
    /// Whether a NodePort held by another Service makes its slot busy.
    pub check_ports: bool,
}

/// The lowest free slot, if any.
pub fn pick(usage: &Usage, c: Choice<'_>) -> Option<u16> {
    (1..=c.max_slots).find(|slot| {
        !usage.named_slots.contains(slot)
            && !c.reserved.contains(slot)
            && !c.leaked.contains(slot)
            && !c.excluded.contains(slot)
            && (!c.check_ports
                || !usage
                    .held_ports
                    .contains(&c.base_port.saturating_add(*slot)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowest_free_slot_skips_names_reservations_and_held_ports() {
        let mut usage = Usage::default();
        usage.note_name("grpc-job-1-7");
        usage.note_name("cleanup-job-3-9");
        usage.note_name("grpc-job-something-else");
        usage.held_ports.insert(12302);
        assert_eq!(usage.max_seq, 9);
        let empty = BTreeSet::new();
        let reserved: BTreeSet<u16> = [4].into_iter().collect();
        let c = Choice {
            reserved: &reserved,
            leaked: &empty,
            excluded: &empty,
            max_slots: 10,
            base_port: 12300,
            check_ports: true,
        };
        assert_eq!(pick(&usage, c), Some(5));
        assert_eq!(
            pick(
                &usage,
                Choice {
                    check_ports: false,
                    ..c
                }
            ),
            Some(2)
        );
        assert_eq!(pick(&usage, Choice { max_slots: 4, ..c }), None);
    }
}
