//! Test helpers shared by the workspace's test suites (a dev-dependency of the suite
//! and of kube-sim; never part of a build that ships).

pub mod kubectl;
