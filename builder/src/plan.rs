//! The static phase of a build: everything that can be checked before any work starts
//! (syntax, flags, stage references, the target, the global ARGs, the stage graph).

use crate::dispatch::{global_args, BuildInputs, PROXY_ARGS};
use crate::dockerfile::shell::EnvList;
use crate::dockerfile::{parse, Dockerfile, Instruction, ParseError};
use crate::graph::{plan, Graph};
use crate::options::BuildOptions;

#[derive(Debug, Clone)]
pub struct BuildPlan {
    pub dockerfile: Dockerfile,
    pub inputs: BuildInputs,
    pub globals: EnvList,
    pub graph: Graph,
    pub warnings: Vec<String>,
}

/// This machine's platform as OCI spells it (`linux/amd64`, `linux/arm64`, `linux/arm/v7`).
pub fn host_platform() -> String {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "arm" => "arm/v7",
        "powerpc64" => "ppc64le",
        "loongarch64" => "loong64",
        other => other,
    };
    format!("linux/{arch}")
}

pub fn check(text: &str, opts: &BuildOptions) -> Result<BuildPlan, ParseError> {
    let dockerfile = parse(text)?;
    let host = host_platform();
    let inputs = BuildInputs {
        build_args: opts.build_args.clone(),
        build_platform: host.clone(),
        target_platform: opts.platform.clone().unwrap_or(host),
    };
    let meta: Vec<_> = dockerfile.meta_args.iter().map(|m| m.inner.clone()).collect();
    let globals = global_args(&meta, &inputs, dockerfile.escape).map_err(|m| {
        let line = dockerfile.meta_args.first().map_or(1, |a| a.line);
        ParseError::at(line, Some("ARG"), m)
    })?;
    let graph = plan(&dockerfile, &globals, opts.target.as_deref())?;
    let mut warnings = dockerfile.warnings.clone();
    let mut declared: Vec<&str> = meta.iter().flatten().map(|a| a.key.as_str()).collect();
    for st in &dockerfile.stages {
        for i in &st.instructions {
            if let Instruction::Arg(decls) = &i.inner {
                declared.extend(decls.iter().map(|a| a.key.as_str()));
            }
        }
    }
    let unused: Vec<&String> = opts.build_args.keys().filter(|k| !declared.contains(&k.as_str()) && !PROXY_ARGS.contains(&k.as_str())).collect();
    if !unused.is_empty() {
        warnings.push(format!("one or more build-args {unused:?} were not consumed"));
    }
    Ok(BuildPlan { dockerfile, inputs, globals, graph, warnings })
}
