//! The executor: runs a checked [`crate::plan::BuildPlan`] against berth-store and the
//! runtime library. (Being wired to the store and runtime as they land.)

use crate::options::BuildOptions;
use crate::plan::BuildPlan;
use anyhow::{bail, Result};

pub fn build(_opts: &BuildOptions, plan: BuildPlan) -> Result<()> {
    let stages = plan.graph.order.len();
    bail!("the Dockerfile is valid ({stages} stage(s) needed), but executing builds needs berth-store and the runtime library, which this build of berth-build does not have yet")
}
