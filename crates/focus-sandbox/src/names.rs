//! The names of an investigation's Kubernetes objects, built and parsed in one place:
//! `grpc-job-<job_id>`, `cleanup-job-<job_id>`, `grpc-service-<job_id>`. Both the
//! sandbox (which creates them) and a client that looks for them (the suite) use it.
//! A `job_id` is any string here; the sandbox's own ids are [`JobId`]s (`<slot>-<seq>`).

use std::fmt;

/// The request header a configure may carry to take the settings the control API
/// armed for that marker (`PUT /_sandbox/next-pod-failure {"marker": …}`); a client
/// running scenarios side by side marks each scenario's configures with its own.
pub const MARKER_HEADER: &str = "x-sandbox-marker";

/// Name prefix of an investigation's processing Job.
pub const GRPC_JOB_PREFIX: &str = "grpc-job-";
/// Name prefix of an investigation's cleanup Job.
pub const CLEANUP_JOB_PREFIX: &str = "cleanup-job-";
/// Name prefix of an investigation's NodePort Service.
pub const GRPC_SERVICE_PREFIX: &str = "grpc-service-";

/// One of the three objects of an investigation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Part {
    /// batch/v1 Job running the stream server.
    GrpcJob,
    /// batch/v1 Job that ends when the investigation has been idle long enough.
    CleanupJob,
    /// v1 NodePort Service of the stream port.
    GrpcService,
}

impl Part {
    /// Every part, in creation order.
    pub const ALL: [Part; 3] = [Part::GrpcJob, Part::CleanupJob, Part::GrpcService];

    /// The name prefix.
    pub fn prefix(self) -> &'static str {
        match self {
            Part::GrpcJob => GRPC_JOB_PREFIX,
            Part::CleanupJob => CLEANUP_JOB_PREFIX,
            Part::GrpcService => GRPC_SERVICE_PREFIX,
        }
    }

    /// The object's name for `job_id`.
    pub fn name(self, job_id: &str) -> String {
        format!("{}{job_id}", self.prefix())
    }

    /// The job_id `name` carries if it names this part (non-empty).
    pub fn job_id_of(self, name: &str) -> Option<&str> {
        name.strip_prefix(self.prefix()).filter(|id| !id.is_empty())
    }
}

/// `grpc-job-<job_id>`.
pub fn grpc_job_name(job_id: &str) -> String {
    Part::GrpcJob.name(job_id)
}

/// `cleanup-job-<job_id>`.
pub fn cleanup_job_name(job_id: &str) -> String {
    Part::CleanupJob.name(job_id)
}

/// `grpc-service-<job_id>`.
pub fn grpc_service_name(job_id: &str) -> String {
    Part::GrpcService.name(job_id)
}

/// Which part `name` names and the job_id it carries, if it is an investigation object.
pub fn parse(name: &str) -> Option<(Part, &str)> {
    Part::ALL
        .into_iter()
        .find_map(|p| p.job_id_of(name).map(|id| (p, id)))
}

/// The job_id an investigation object's name carries, if it is one.
pub fn job_id_of(name: &str) -> Option<&str> {
    parse(name).map(|(_, id)| id)
}

/// A job id the sandbox hands out: `<slot>-<seq>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct JobId {
    /// Stream slot, from 1.
    pub slot: u16,
    /// Global sequence number.
    pub seq: u64,
}

impl JobId {
    /// Parses `"<slot>-<seq>"`.
    pub fn parse(s: &str) -> Option<JobId> {
        let (slot, seq) = s.split_once('-')?;
        let all_digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
        if !all_digits(slot) || !all_digits(seq) {
            return None;
        }
        Some(JobId {
            slot: slot.parse().ok()?,
            seq: seq.parse().ok()?,
        })
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.slot, self.seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        assert_eq!(grpc_job_name("1-16"), "grpc-job-1-16");
        assert_eq!(cleanup_job_name("1-16"), "cleanup-job-1-16");
        assert_eq!(grpc_service_name("1-16"), "grpc-service-1-16");
        for p in Part::ALL {
            assert_eq!(parse(&p.name("2-3")), Some((p, "2-3")));
        }
        assert_eq!(job_id_of("cleanup-job-1-160"), Some("1-160"));
        assert_eq!(job_id_of("grpc-job-"), None);
        assert_eq!(job_id_of("grpc-jobs-1-1"), None);
        assert_eq!(Part::GrpcJob.job_id_of("grpc-service-1-1"), None);
    }

    #[test]
    fn job_ids() {
        assert_eq!(JobId::parse("1-1603"), Some(JobId { slot: 1, seq: 1603 }));
        assert_eq!(
            JobId::parse("1-16").map(|j| j.to_string()),
            Some("1-16".into())
        );
        for bad in [
            "",
            "1",
            "1-",
            "-1",
            "a-1",
            "1-1-1",
            "../../etc/passwd",
            "1 -2",
            "+1-2",
        ] {
            assert_eq!(JobId::parse(bad), None, "{bad}");
        }
    }
}
