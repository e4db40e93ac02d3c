//! The whole config.json → plan step on raw bytes, as `create` runs it before it touches the
//! system: parse and version check, [`Plan::build`], and the pure parts of cgroup planning
//! (`cgroupsPath` placement, `linux.resources` as v1, v2 and systemd writes). Any input must
//! give an error, never a panic: the `spec_plan` fuzz target (runtime/fuzz) and the corpus
//! test (`config_tests.rs`) call this.

use super::{Plan, PlanOptions};
use crate::cgroups::layout::Mode;
use crate::cgroups::{Current, Intent};
use crate::error::{Error, Result};
use std::path::Path;

pub fn plan_config(raw: &[u8]) -> Result<Plan> {
    let spec = crate::spec::parse(raw)?;
    let bundle = Path::new("/bundle");
    let root = spec.root().as_ref().ok_or_else(|| Error::Spec("root: missing".into()))?;
    let rootfs = bundle.join(root.path());
    let plan = Plan::build("fuzz", bundle, &rootfs, &spec, PlanOptions::default())?;
    // Every planner runs (one refusing does not hide the others from the fuzzer); the
    // result is the plan `create` would use on a cgroupfs host.
    let _ = crate::cgroups::path::placement(plan.cgroups_path.as_deref(), &plan.id, true);
    crate::cgroups::path::placement(plan.cgroups_path.as_deref(), &plan.id, false)?;
    if let Some(res) = &plan.resources {
        let cur = Current::default();
        for intent in [Intent::Create, Intent::Update] {
            let _ = crate::cgroups::v1::plan(res, &cur, intent, &|_| true);
            let _ = crate::cgroups::v2::plan(res, &cur, intent, &|_| true);
            for mode in [Mode::Hybrid, Mode::V2] {
                let _ = crate::cgroups::systemd::resource_properties(res, mode, intent);
            }
        }
    }
    Ok(plan)
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
