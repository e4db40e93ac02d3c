//! Stages as a graph: which stages the target needs, in what order, and which can run side
//! by side. A stage depends on the stage it is `FROM`, the stages it `COPY --from`s and the
//! stages its `RUN --mount=from=` reads; everything else named there is an image.

use crate::dispatch::expand_base;
use crate::dockerfile::shell::EnvList;
use crate::dockerfile::{mount::parse_mount, Dockerfile, Instruction, ParseError};
use std::collections::BTreeSet;

/// What a stage starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Base {
    Scratch,
    Stage(usize),
    Image(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageNode {
    pub index: usize,
    pub base: Base,
    /// Stages this one needs finished first.
    pub deps: BTreeSet<usize>,
    /// Images read by `COPY --from` / `--mount=from=` (pulled before the stage runs).
    pub images: BTreeSet<String>,
}

#[derive(Debug, Clone)]
pub struct Graph {
    pub nodes: Vec<StageNode>,
    pub target: usize,
    /// The stages the target needs (itself included), dependencies first.
    pub order: Vec<usize>,
}

impl Graph {
    /// The needed stages in waves: every stage of a wave only needs earlier waves.
    pub fn waves(&self) -> Vec<Vec<usize>> {
        let mut done: BTreeSet<usize> = BTreeSet::new();
        let mut left: Vec<usize> = self.order.clone();
        let mut waves = Vec::new();
        while !left.is_empty() {
            let (ready, rest): (Vec<usize>, Vec<usize>) = left.iter().partition(|i| self.nodes[**i].deps.is_subset(&done));
            done.extend(&ready);
            waves.push(ready);
            left = rest;
        }
        waves
    }
}

/// Look up `--from=` / `FROM` names: a stage name, or (for `--from`) a stage index.
pub fn find_stage(df: &Dockerfile, name: &str, current: usize, allow_index: bool) -> Result<Option<usize>, String> {
    let lower = name.to_ascii_lowercase();
    if let Some(s) = df.stages.iter().find(|s| s.name.as_deref() == Some(lower.as_str()) && s.index != current) {
        return Ok(Some(s.index));
    }
    if allow_index {
        if let Ok(i) = name.parse::<usize>() {
            if i >= current {
                return Err(format!("invalid from flag value {name}: refers to current or later build stage"));
            }
            return Ok(Some(i));
        }
    }
    if df.stages.iter().any(|s| s.index == current && s.name.as_deref() == Some(lower.as_str())) {
        return Err(format!("stage {name:?} refers to itself"));
    }
    Ok(None)
}

/// Build the graph for `target` (a stage name; the last stage when `None`).
pub fn plan(df: &Dockerfile, globals: &EnvList, target: Option<&str>) -> Result<Graph, ParseError> {
    let mut nodes = Vec::new();
    for st in &df.stages {
        let err = |line: usize, ins: &str, m: String| ParseError::at(line, Some(ins), m);
        let base_name = expand_base(&st.base, globals, df.escape).map_err(|m| err(st.line, "FROM", m))?;
        let lower = base_name.to_ascii_lowercase();
        let base = if lower == "scratch" {
            Base::Scratch
        } else if let Some(s) = df.stages[..st.index].iter().find(|s| s.name.as_deref() == Some(lower.as_str())) {
            Base::Stage(s.index)
        } else {
            Base::Image(base_name)
        };
        let mut deps = BTreeSet::new();
        let mut images = BTreeSet::new();
        if let Base::Stage(i) = base {
            deps.insert(i);
        }
        for ins in &st.instructions {
            let mut froms = Vec::new();
            match &ins.inner {
                Instruction::Copy(c) => {
                    if let Some(f) = &c.from {
                        froms.push(f.clone());
                    }
                }
                Instruction::Run(r) => {
                    for m in &r.mounts {
                        if let Ok(m) = parse_mount(m) {
                            if let Some(f) = m.from {
                                froms.push(f);
                            }
                        }
                    }
                }
                _ => {}
            }
            for f in froms {
                let f = crate::dockerfile::shell::Lex::new(df.escape).process_word(&f, globals).map_err(|e| err(ins.line, ins.inner.name(), e.0))?;
                match find_stage(df, &f, st.index, true).map_err(|m| err(ins.line, ins.inner.name(), m))? {
                    Some(i) => {
                        deps.insert(i);
                    }
                    None => {
                        images.insert(f);
                    }
                }
            }
        }
        nodes.push(StageNode { index: st.index, base, deps, images });
    }
    let target_idx = match target {
        None => df.stages.len() - 1,
        Some(t) => {
            let lower = t.to_ascii_lowercase();
            df.stages
                .iter()
                .find(|s| s.name.as_deref() == Some(lower.as_str()))
                .map(|s| s.index)
                .ok_or_else(|| ParseError::at(0, None, format!("target stage {t:?} could not be found")))?
        }
    };
    let mut order = Vec::new();
    let mut state = vec![0u8; nodes.len()]; // 0 new, 1 visiting, 2 done
    fn visit(i: usize, nodes: &[StageNode], state: &mut [u8], order: &mut Vec<usize>, df: &Dockerfile) -> Result<(), ParseError> {
        match state[i] {
            2 => return Ok(()),
            1 => {
                let name = df.stages[i].name.clone().unwrap_or_else(|| i.to_string());
                return Err(ParseError::at(df.stages[i].line, Some("FROM"), format!("circular dependency detected on stage: {name}")));
            }
            _ => {}
        }
        state[i] = 1;
        for &d in &nodes[i].deps {
            visit(d, nodes, state, order, df)?;
        }
        state[i] = 2;
        order.push(i);
        Ok(())
    }
    visit(target_idx, &nodes, &mut state, &mut order, df)?;
    Ok(Graph { nodes, target: target_idx, order })
}
