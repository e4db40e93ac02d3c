//! One stage: its base, ONBUILD triggers, then each instruction dispatched, keyed, looked up
//! in the cache and, on a miss, executed.

use super::{history, records::LayerRecord, rootfs::Merged, Exec};
use crate::cache::{base_key, step_key, InputHasher, Key};
use crate::context::Context;
use crate::dispatch::{Step, StageState};
use crate::dockerfile::{parse_trigger, Instruction};
use crate::graph::{find_stage, Base};
use crate::image::Config;
use crate::layer::{write_tar, Content, Opener};
use crate::step::copy::with_parents;
use crate::view::{DirView, EmptyView, RootView};
use berth_store::oci::History;
use berth_store::{Descriptor, Digest};
use std::io::{self, Read, Seek};
use std::path::PathBuf;

/// What a finished stage leaves for the stages after it and for the image.
#[derive(Clone, Debug)]
pub struct StageResult {
    pub layers: Vec<Descriptor>,
    pub diff_ids: Vec<Digest>,
    /// Snapshot directories of the layers, bottom first.
    pub dirs: Vec<PathBuf>,
    pub key: Key,
    pub config: Config,
    pub author: Option<String>,
    pub os: String,
    pub arch: String,
    pub variant: Option<String>,
    pub history: Vec<History>,
}

/// A build failure, with the instruction it happened at.
#[derive(Debug)]
pub struct Failure {
    pub line: usize,
    pub instruction: String,
    pub message: String,
}

impl Failure {
    pub fn message(&self, file: &str) -> String {
        if self.line == 0 {
            return self.message.clone();
        }
        format!("{file}:{}: {}: {}", self.line, self.instruction, self.message)
    }
}

struct Trees<'a> {
    trees: Vec<&'a Context>,
}

impl Opener for Trees<'_> {
    fn open(&self, c: &Content) -> io::Result<Box<dyn Read + '_>> {
        match c {
            Content::Inline(b) => Ok(Box::new(io::Cursor::new(b.clone()))),
            Content::Spill(p) => Ok(Box::new(io::BufReader::with_capacity(1 << 16, std::fs::File::open(p)?))),
            Content::Tree { tree, path } => {
                let t = self.trees[*tree];
                let f = match t.open_file(path) {
                    Ok(f) => f,
                    // The top of a source may be a symlink (followed inside the tree).
                    Err(_) => t.open_source(path).map_err(io::Error::other)?,
                };
                Ok(Box::new(io::BufReader::with_capacity(1 << 16, f)))
            }
        }
    }
}

impl Exec<'_> {
    fn fail(line: usize, ins: &str, m: impl std::fmt::Display) -> Failure {
        Failure { line, instruction: ins.to_string(), message: m.to_string() }
    }

    fn stage_label(&self, i: usize, n: usize, total: usize) -> String {
        let st = &self.plan.dockerfile.stages[i];
        match &st.name {
            Some(name) => format!("[{name} {n}/{total}]"),
            None if self.plan.dockerfile.stages.len() > 1 => format!("[stage-{i} {n}/{total}]"),
            None => format!("[{n}/{total}]"),
        }
    }

    /// Resolve an image from the store, pulling it when missing (or always with --pull).
    pub(super) fn image(&self, reference: &str, platform: Option<&str>) -> Result<berth_store::Image, String> {
        if !self.opts.pull {
            if let Ok(img) = self.store.resolve(reference) {
                return Ok(img);
            }
        }
        let platform = platform.map(berth_store::Platform::parse).transpose().map_err(|e| e.to_string())?;
        // Unpacked while pulling: every base layer is needed as a snapshot right away.
        let o = berth_store::registry::PullOptions { registry: berth_store::registry::RegistryOptions { insecure: self.opts.insecure, ..Default::default() }, platform, unpack: true };
        self.store.pull(reference, &o, &berth_store::NoProgress).map_err(|e| format!("pulling {reference}: {e}"))
    }

    pub(super) fn image_result(&self, img: &berth_store::Image) -> Result<StageResult, String> {
        let dirs = self
            .store
            .snapshots
            .ensure(&self.store.content, &img.manifest.layers, &img.config, &berth_store::NoProgress)
            .map_err(|e| e.to_string())?;
        let config: Config = match &img.config.config {
            Some(c) => serde_json::to_value(c).and_then(serde_json::from_value).map_err(|e| e.to_string())?,
            None => Config::default(),
        };
        Ok(StageResult {
            layers: img.manifest.layers.clone(),
            diff_ids: img.diff_ids().to_vec(),
            dirs,
            key: base_key(img.descriptor.digest.as_str()),
            config,
            author: img.config.author.clone(),
            os: if img.config.os.is_empty() { "linux".into() } else { img.config.os.clone() },
            arch: img.config.architecture.clone(),
            variant: img.config.variant.clone(),
            history: img.config.history.clone(),
        })
    }

    pub(super) fn run_stage(&self, i: usize) -> Result<StageResult, Failure> {
        let st = self.plan.dockerfile.stages[i].clone();
        let total = st.instructions.len() + 1;
        let node = self.plan.graph.nodes[i].clone();
        let from_line = st.original.clone();
        let line = self.report.step(&format!("{} {}", self.stage_label(i, 1, total), from_line));
        let (target_os, target_arch) = {
            let mut p = self.plan.inputs.target_platform.split('/');
            (p.next().unwrap_or("linux").to_string(), p.next().unwrap_or("amd64").to_string())
        };
        let mut res = match &node.base {
            Base::Scratch => StageResult {
                layers: vec![],
                diff_ids: vec![],
                dirs: vec![],
                key: base_key("scratch"),
                config: Config::default(),
                author: None,
                os: target_os,
                arch: target_arch,
                variant: None,
                history: vec![],
            },
            Base::Stage(s) => self.results[*s].clone().ok_or_else(|| Self::fail(st.line, "FROM", format!("stage {s} was not built")))?,
            Base::Image(r) => {
                let platform = match &st.platform {
                    Some(p) => Some(crate::dispatch::expand_base(p, &self.plan.globals, self.plan.dockerfile.escape).map_err(|m| Self::fail(st.line, "FROM", m))?),
                    None => self.opts.platform.clone(),
                };
                let img = self.image(r, platform.as_deref()).map_err(|m| Self::fail(st.line, "FROM", m))?;
                self.image_result(&img).map_err(|m| Self::fail(st.line, "FROM", m))?
            }
        };
        line.done();
        let base_config = match node.base {
            Base::Scratch => None,
            _ => Some(res.config.clone()),
        };
        let mut state = StageState::new(base_config, self.plan.dockerfile.escape);
        let mut work: Vec<(usize, String, Instruction)> = Vec::new();
        for t in state.take_triggers() {
            let ins = parse_trigger(&t).map_err(|e| Self::fail(st.line, "ONBUILD", format!("trigger {t:?}: {}", e.message)))?;
            work.push((st.line, format!("ONBUILD {t}"), ins));
        }
        for ins in &st.instructions {
            work.push((ins.line, ins.original.trim().to_string(), ins.inner.clone()));
        }
        let total = work.len() + 1;
        for (n, (lineno, text, ins)) in work.into_iter().enumerate() {
            if super::interrupted() {
                return Err(Self::fail(0, "", "interrupted"));
            }
            let name = ins.name();
            let d = state.dispatch(&ins, &self.plan.inputs, &self.plan.globals).map_err(|m| Self::fail(lineno, name, m))?;
            let Some(step) = d.step else {
                res.history.push(history(self.created(), d.created_by, true));
                continue;
            };
            let title = format!("{} {}", self.stage_label(i, n + 2, total), text);
            let line = self.report.step(&title);
            match self.run_step(i, &st, &mut res, &step, lineno, name, &line) {
                Ok((rec, cached)) => {
                    res.history.push(history(rec.created.clone(), d.created_by, rec.empty));
                    if cached {
                        line.cached()
                    } else {
                        line.done()
                    }
                }
                Err(f) => {
                    line.error(&f.message);
                    return Err(f);
                }
            }
        }
        res.config = state.config.clone();
        if state.author.is_some() {
            res.author = state.author.clone();
        }
        // ONBUILD triggers of the base ran here; the ones this stage declared stay.
        Ok(res)
    }

    /// A view of the stage's current root (for COPY destinations and --chown).
    fn view_of(&self, res: &StageResult, tag: &str) -> Result<(Option<Merged>, Box<dyn RootView>), String> {
        let target = self.tmp.0.join(format!("view-{tag}"));
        let merged = Merged::new(&res.dirs, &target).map_err(|e| e.to_string())?;
        let view: Box<dyn RootView> = match &merged {
            Some(m) => Box::new(DirView::open(m.path()).map_err(|e| e.to_string())?),
            None => Box::new(EmptyView),
        };
        Ok((merged, view))
    }

    fn run_step(&self, si: usize, st: &crate::dockerfile::Stage, res: &mut StageResult, step: &Step, lineno: usize, name: &str, line: &super::progress::StepLine<'_>) -> Result<(LayerRecord, bool), Failure> {
        let fail = |m: String| Self::fail(lineno, name, m);
        // The epoch changes what is written (clamped times), so it is part of every key.
        let platform = format!("{}/{};epoch={:?}", res.os, res.arch, self.times.epoch);
        let tag = format!("{si}-{lineno}");
        let (_merged, view) = self.view_of(res, &tag).map_err(fail)?;
        // Plan the step's entries (COPY, WORKDIR) and the digest of what it reads.
        let mut keep_alive: Vec<Merged> = Vec::new();
        let mut source_tree: Option<Context> = None;
        let (entries, inputs) = match step {
            Step::Copy(c) => {
                let spill = self.tmp.0.join("spill");
                std::fs::create_dir_all(&spill).map_err(|e| fail(e.to_string()))?;
                let mut downloads = Vec::new();
                if c.add {
                    for s in c.sources.iter().filter(|s| crate::dispatch::is_url(s)) {
                        let d = crate::step::add::download(s, &spill, c.checksum.as_deref()).map_err(fail)?;
                        downloads.push((s.clone(), d));
                    }
                }
                let tree: &Context = match &c.from {
                    None => &self.context,
                    Some(f) => {
                        let f = crate::dockerfile::shell::Lex::new(self.plan.dockerfile.escape).process_word(f, &self.plan.globals).map_err(|e| fail(e.0))?;
                        let from_res = match find_stage(&self.plan.dockerfile, &f, st.index, true).map_err(fail)? {
                            Some(s) => self.results[s].clone().ok_or_else(|| fail(format!("stage {f} was not built")))?,
                            None => {
                                let img = self.image(&f, None).map_err(fail)?;
                                self.image_result(&img).map_err(fail)?
                            }
                        };
                        let (m, _) = self.view_of(&from_res, &format!("{tag}-from")).map_err(fail)?;
                        let root = match &m {
                            Some(m) => m.path().to_path_buf(),
                            None => {
                                let empty = self.tmp.0.join(format!("empty-{tag}"));
                                std::fs::create_dir_all(&empty).map_err(|e| fail(e.to_string()))?;
                                empty
                            }
                        };
                        source_tree = Some(Context::open_plain(&root).map_err(|e| fail(e.to_string()))?);
                        if let Some(m) = m {
                            keep_alive.push(m);
                        }
                        source_tree.as_ref().unwrap()
                    }
                };
                // Context files are copied as root's; files from a stage or image keep their owners.
                let env = crate::step::copy::CopyEnv { times: self.times, keep_owners: c.from.is_some(), spill: Some(&spill), downloads: &downloads };
                // --link: the layer does not depend on what is below it (no destination
                // symlinks followed, parents created fresh), as BuildKit writes it. --chown
                // names are still looked up in the image.
                let link_view = crate::view::EmptyView;
                let plan_view: &dyn RootView = if c.link && c.chown.as_deref().is_none_or(|o| o.split(':').all(|p| p.parse::<u32>().is_ok())) { &link_view } else { view.as_ref() };
                let p = crate::step::copy::plan_copy_with(c, tree, 0, plan_view, &env).map_err(fail)?;
                (p.entries, p.inputs)
            }
            Step::Mkdir { path, user } => {
                let real = view.realpath(path);
                if view.lstat(&real).is_some_and(|m| m.is_dir) {
                    (Vec::new(), InputHasher::new().finish())
                } else {
                    let owner = if user.is_empty() { None } else { Some(crate::view::resolve_user(user, view.as_ref()).map_err(fail)?) };
                    let dir = crate::layer::LayerEntry {
                        path: real.trim_start_matches('/').to_string(),
                        kind: crate::layer::EntryKind::Dir,
                        mode: 0o755,
                        uid: owner.map_or(0, |o| o.0),
                        gid: owner.map_or(0, |o| o.1),
                        mtime: self.times.created(),
                        size: 0,
                        xattrs: vec![],
                    };
                    let mut h = InputHasher::new();
                    h.record(&[b"mkdir", real.as_bytes()]);
                    (with_parents(vec![dir], view.as_ref(), None, self.times), h.finish())
                }
            }
            Step::Run(r) => {
                let host = crate::plan::host_platform();
                if !self.plan.inputs.target_platform.starts_with(&host) && format!("{}/{}", res.os, res.arch) != host {
                    return Err(fail(format!("RUN for {}/{} cannot run on this {host} machine (no emulation)", res.os, res.arch)));
                }
                (Vec::new(), self.run_inputs(r, st.index).map_err(fail)?)
            }
        };
        let key = step_key(&res.key, step, &inputs, &platform);
        if !self.opts.no_cache {
            if let Some(rec) = self.records.layer(&self.store, &key, &res.diff_ids) {
                self.apply(res, &rec, key);
                return Ok((rec, true));
            }
        }
        let mut run_tree = None;
        let entries = match step {
            Step::Run(r) => {
                let o = self.run_container(r, res, st.index, &tag, line).map_err(fail)?;
                run_tree = Some(o.upper);
                o.entries
            }
            _ => entries,
        };
        if let Some(t) = run_tree {
            source_tree = Some(t);
        }
        let rec = if entries.is_empty() {
            LayerRecord { layer: Descriptor::new("", Digest::sha256_of(b""), 0), diff_id: Digest::sha256_of(b""), created: self.created(), empty: true }
        } else {
            let tar_path = self.tmp.0.join(format!("layer-{tag}.tar"));
            let mut f = std::fs::OpenOptions::new().read(true).write(true).create_new(true).open(&tar_path).map_err(|e| fail(format!("{}: {e}", tar_path.display())))?;
            let mut trees: Vec<&Context> = vec![&self.context];
            if let Some(t) = &source_tree {
                trees[0] = t;
            }
            write_tar(&entries, &Trees { trees }, io::BufWriter::new(&mut f)).map_err(|e| fail(format!("writing the layer: {e}")))?;
            f.rewind().map_err(|e| fail(e.to_string()))?;
            let committed = self.store.commit_layer(io::BufReader::with_capacity(1 << 20, &mut f), self.compression, &res.diff_ids).map_err(|e| fail(format!("committing the layer: {e}")))?;
            drop(f);
            let _ = std::fs::remove_file(&tar_path);
            LayerRecord { layer: committed.descriptor, diff_id: committed.diff_id, created: self.created(), empty: false }
        };
        drop(keep_alive);
        let _ = self.records.put_layer(&key, &rec);
        self.apply(res, &rec, key);
        Ok((rec, false))
    }

    fn apply(&self, res: &mut StageResult, rec: &LayerRecord, key: Key) {
        res.key = key;
        if rec.empty {
            return;
        }
        res.layers.push(rec.layer.clone());
        res.diff_ids.push(rec.diff_id.clone());
        let chain = berth_store::digest::chain_ids(&res.diff_ids);
        res.dirs.push(self.store.snapshots.fs_path(chain.last().expect("one layer at least")));
    }
}
