//! RUN inside the executor: inputs for its key, then (on a miss) the container.

use super::run::{self, PreparedMount, Runner};
use super::{rootfs::Merged, stage::StageResult, Exec};
use crate::cache::InputHasher;
use crate::context::{Context, Kind};
use crate::dispatch::{Network, RunStep};
use crate::dockerfile::mount::MountType;
use crate::graph::find_stage;
use crate::layer::LayerEntry;
use crate::options::SecretSource;
use crate::view::RootView;
use berth_runtime::inroot::InRoot;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

static RUNS: AtomicU32 = AtomicU32::new(0);

/// What a finished RUN left: the layer entries of its upper dir, read from `upper`.
pub(crate) struct RunOutput {
    pub entries: Vec<LayerEntry>,
    pub upper: Context,
    /// Mounts that must outlive the tar writing (none today; kept for symmetry).
    pub _guards: Vec<Merged>,
}

impl Exec<'_> {
    /// The stage (or image) a `from=` names, built.
    fn result_of_from(&self, from: &str, stage_index: usize) -> Result<StageResult, String> {
        let f = crate::dockerfile::shell::Lex::new(self.plan.dockerfile.escape).process_word(from, &self.plan.globals).map_err(|e| e.0)?;
        match find_stage(&self.plan.dockerfile, &f, stage_index, true)? {
            Some(s) => self.results[s].clone().ok_or_else(|| format!("stage {f} was not built")),
            None => {
                let img = self.image(&f, None)?;
                self.image_result(&img)
            }
        }
    }

    /// Digest of what a RUN reads besides its parent: bind-mounted context paths (content)
    /// and the stages or images it mounts (their keys).
    pub(crate) fn run_inputs(&self, step: &RunStep, stage_index: usize) -> Result<[u8; 32], String> {
        let mut h = InputHasher::new();
        for m in &step.mounts {
            if m.kind != MountType::Bind {
                continue;
            }
            match &m.from {
                Some(f) => {
                    let r = self.result_of_from(f, stage_index)?;
                    h.record(&[b"from", f.as_bytes(), r.key.0.as_bytes()]);
                }
                None => {
                    let src = m.source.clone().unwrap_or_else(|| ".".into());
                    let norm = Context::normalize(&src).map_err(|e| e.to_string())?;
                    for e in self.context.walk(&norm).map_err(|e| e.to_string())? {
                        let digest = match &e.kind {
                            Kind::File => self.context.hash_file(&e.ctx_path, e.rel.is_empty()).map_err(|x| x.to_string())?.to_vec(),
                            Kind::Symlink(t) => t.as_bytes().to_vec(),
                            _ => vec![],
                        };
                        h.record(&[e.ctx_path.as_bytes(), &e.mode.to_le_bytes(), &digest]);
                    }
                }
            }
        }
        Ok(h.finish())
    }

    /// Run the container; its output goes to the progress line as it comes.
    pub(crate) fn run_container(&self, step: &RunStep, res: &StageResult, stage_index: usize, tag: &str, out: &super::progress::StepLine<'_>) -> Result<RunOutput, String> {
        let n = RUNS.fetch_add(1, Ordering::Relaxed);
        let base = self.tmp.0.join(format!("run-{tag}"));
        let bundle = base.join("bundle");
        let rootfs_dir = bundle.join("rootfs");
        let upper = base.join("upper");
        let io = |e: std::io::Error| e.to_string();
        let rootfs = Merged::writable(&res.dirs, &base.join("empty"), &upper, &base.join("work"), &rootfs_dir).map_err(io)?;
        let view = run::view(rootfs.path())?;
        // The working directory exists before the process starts (it becomes part of the layer).
        InRoot::open(rootfs.path()).and_then(|r| r.mkdir_all(Path::new(&step.workdir), 0o755)).map_err(|e| format!("creating the working directory {}: {e}", step.workdir))?;

        let mut mounts: Vec<PreparedMount> = Vec::new();
        let mut guards: Vec<Merged> = Vec::new();
        let mut locks = Vec::new();
        let mut env_secrets = Vec::new();
        let cache_root = self.store.root().join("build-cache").join("mounts");
        std::fs::create_dir_all(&cache_root).map_err(io)?;
        for (i, m) in step.mounts.iter().enumerate() {
            let target = m.target.clone().unwrap_or_default();
            match m.kind {
                MountType::Cache => {
                    let (dir, lock) = run::cache_dir(&cache_root, m).map_err(io)?;
                    locks.push(lock);
                    let ro = if m.readonly { "ro" } else { "rw" };
                    mounts.push(PreparedMount { source: dir, target, kind: "bind", options: vec!["rbind".into(), ro.into()] });
                }
                MountType::Tmpfs => {
                    let mut o = vec!["nosuid".to_string(), "nodev".into()];
                    if let Some(s) = m.size {
                        o.push(format!("size={s}"));
                    }
                    mounts.push(PreparedMount { source: "tmpfs".into(), target, kind: "tmpfs", options: o });
                }
                MountType::Secret => {
                    let id = m.secret_id();
                    let data = match self.opts.secrets.iter().find(|s| s.id == id) {
                        Some(s) => match &s.source {
                            SecretSource::File(p) => std::fs::read(p).map_err(|e| format!("secret {id}: {}: {e}", p.display()))?,
                            SecretSource::Env(v) => std::env::var(v).map_err(|_| format!("secret {id}: environment variable {v} is not set"))?.into_bytes(),
                        },
                        None if m.required => return Err(format!("secret {id}: not provided (use --secret id={id},src=FILE)")),
                        None => continue,
                    };
                    if let Some(var) = &m.env {
                        env_secrets.push(format!("{var}={}", String::from_utf8_lossy(&data)));
                    }
                    if let Some(t) = m.secret_target() {
                        let p = run::secret_file(&base, &id, &data, m).map_err(io)?;
                        mounts.push(PreparedMount { source: p, target: t, kind: "bind", options: vec!["bind".into(), "ro".into(), "nosuid".into(), "nodev".into(), "noexec".into()] });
                    }
                }
                MountType::Bind => {
                    let (tree_root, guard) = match &m.from {
                        None => (self.context.root().to_path_buf(), None),
                        Some(f) => {
                            let r = self.result_of_from(f, stage_index)?;
                            let target_dir = base.join(format!("from-{i}"));
                            match Merged::new(&r.dirs, &target_dir).map_err(io)? {
                                Some(g) => (g.path().to_path_buf(), Some(g)),
                                None => {
                                    std::fs::create_dir_all(&target_dir).map_err(io)?;
                                    (target_dir, None)
                                }
                            }
                        }
                    };
                    let tree = crate::view::DirView::open(&tree_root).map_err(io)?;
                    let src = tree.realpath(m.source.as_deref().unwrap_or("/"));
                    let host = tree_root.join(src.trim_start_matches('/'));
                    if !host.exists() {
                        return Err(format!("mount source {:?} not found", m.source.as_deref().unwrap_or("/")));
                    }
                    let source = if m.readonly {
                        host
                    } else {
                        // Writes to a read-write bind are thrown away: an overlay over it.
                        let g = Merged::writable(&[host], &base.join("empty"), &base.join(format!("bind-up-{i}")), &base.join(format!("bind-work-{i}")), &base.join(format!("bind-{i}"))).map_err(io)?;
                        let p = g.path().to_path_buf();
                        guards.push(g);
                        p
                    };
                    if let Some(g) = guard {
                        guards.push(g);
                    }
                    let ro = if m.readonly { "ro" } else { "rw" };
                    mounts.push(PreparedMount { source, target, kind: "bind", options: vec!["rbind".into(), ro.into()] });
                }
                MountType::Ssh => return Err("RUN --mount=type=ssh is not supported".into()),
            }
        }
        if !step.files.is_empty() {
            let pipes = base.join("pipes");
            std::fs::create_dir_all(&pipes).map_err(io)?;
            for (name, data) in &step.files {
                use std::os::unix::fs::PermissionsExt;
                let p = pipes.join(name);
                std::fs::write(&p, data).map_err(io)?;
                std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).map_err(io)?;
            }
            mounts.push(PreparedMount { source: pipes, target: "/dev/pipes".into(), kind: "bind", options: vec!["rbind".into(), "ro".into()] });
        }
        if step.network != Network::None {
            for f in ["/etc/resolv.conf", "/etc/hosts"] {
                if Path::new(f).exists() {
                    mounts.push(PreparedMount { source: f.into(), target: f.into(), kind: "bind", options: vec!["rbind".into(), "ro".into()] });
                }
            }
        }
        let mut targets: Vec<String> = mounts.iter().map(|m| m.target.clone()).collect();
        // The runtime's own mount points, made when the image lacks them.
        targets.extend(["/proc", "/sys", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue"].map(String::from));
        let stubs = run::stub_paths(&view, &targets);
        let mut step_env = step.clone();
        step_env.proxy_env.extend(env_secrets);
        let spec = run::spec(&step_env, &view, &mounts, "buildkitsandbox")?;
        std::fs::write(bundle.join("config.json"), serde_json::to_vec_pretty(&spec).unwrap_or_default()).map_err(io)?;

        let state = self.tmp.0.join("runtime-state");
        std::fs::create_dir_all(&state).map_err(io)?;
        let (reader, writer) = run::pipe().map_err(io)?;
        let writer2 = writer.try_clone().map_err(io)?;
        let id = format!("berth-build-{}-{n}", std::process::id());
        let code = std::thread::scope(|s| {
            let t = s.spawn(|| run::drain(reader, |l| out.output(l)));
            let code = match self.helper {
                Some(h) => h.run(&id, &bundle, writer, writer2),
                None => run::default_runner(state).map_err(std::io::Error::other).and_then(|r| r.run(&id, &bundle, writer, writer2)),
            };
            let _ = t.join();
            code
        })
        .map_err(|e| format!("running the container: {e}"))?;
        drop(locks);
        drop(guards);
        drop(view);
        drop(rootfs);
        if code != 0 {
            return Err(format!("process {:?} did not complete successfully: exit code: {code}", step.argv.join(" ")));
        }
        let mut entries = crate::diff::upper_to_entries(&upper, 0, self.times.epoch, &stubs)?;
        // Directories copied up only because a mount point was made in them, unchanged
        // otherwise, are not part of the layer.
        let lower_dir = base.join("lower-view");
        let lower = Merged::new(&res.dirs, &lower_dir).map_err(io)?;
        if let Some(l) = &lower {
            let lv = run::view(l.path())?;
            entries = drop_untouched_dirs(entries, &lv);
        }
        drop(lower);
        let upper_tree = Context::open_plain(&upper).map_err(|e| e.to_string())?;
        Ok(RunOutput { entries, upper: upper_tree, _guards: Vec::new() })
    }
}

/// Remove directory entries with nothing below them in the layer whose mode and owner are
/// what the lower layers already have.
fn drop_untouched_dirs(entries: Vec<LayerEntry>, lower: &dyn RootView) -> Vec<LayerEntry> {
    let keep: Vec<bool> = entries
        .iter()
        .enumerate()
        .map(|(i, e)| {
            if e.kind != crate::layer::EntryKind::Dir {
                return true;
            }
            let prefix = format!("{}/", e.path);
            if entries[i + 1..].iter().any(|x| x.path.starts_with(&prefix)) {
                return true;
            }
            match lower.lstat(&format!("/{}", e.path)) {
                Some(m) => !(m.is_dir && m.mode == e.mode && m.uid == e.uid && m.gid == e.gid),
                None => true,
            }
        })
        .collect();
    entries.into_iter().zip(keep).filter(|(_, k)| *k).map(|(e, _)| e).collect()
}

#[allow(dead_code)]
fn _unused(_: PathBuf) {}
