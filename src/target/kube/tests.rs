//! Unit tests of the module's pure parts.

use super::*;

#[test]
fn job_ids_come_from_exact_prefixes() {
    assert_eq!(job_id_of("grpc-job-1-16"), Some("1-16"));
    assert_eq!(job_id_of("cleanup-job-1-160"), Some("1-160"));
    assert_eq!(job_id_of("grpc-service-2-3"), Some("2-3"));
    assert_eq!(job_id_of("grpc-job-"), None);
    assert_eq!(job_id_of("panda-panda-focus-server"), None);
}
