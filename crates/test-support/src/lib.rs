//! Test helpers shared by the workspace's test suites (a dev-dependency of the suite
//! and of kube-sim; never part of a build that ships): the pinned real kubectl, and the
//! RBAC authorizer the suite's deploy tests check `deploy/rbac*.yaml` with.

pub mod kubectl;
pub mod rbac;
