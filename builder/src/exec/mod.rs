//! The executor: runs a checked [`BuildPlan`] against berth-store.
//!
//! Stages run in dependency order ([`crate::graph::Graph::order`]); each instruction is
//! dispatched, each file-system step keyed and looked up in the cache ([`records`]), and on
//! a miss executed: COPY/ADD and WORKDIR write their layer directly ([`crate::step::copy`],
//! [`crate::layer`]); RUN goes through the runtime library. Layers are committed to the
//! store (blob + snapshot), the image is written with `put_image`, tagged, exported or
//! pushed. All mounts live in a private mount namespace and die with the process.

pub mod helper;
pub mod progress;
pub mod records;
pub mod rootfs;
pub mod run;
mod run_step;
mod stage;

use crate::cache::{hex, Key};
use crate::image::rfc3339;
use crate::options::{BuildOptions, Output};
use crate::plan::BuildPlan;
use crate::step::copy::Times;
use anyhow::{Context as _, Result};
use berth_store::commit::LayerCompression;
use berth_store::oci::{History, RootFs};
use berth_store::{ImageConfig, Store};
use sha2::{Digest as _, Sha256};
use stage::StageResult;

pub use stage::Failure;

/// A directory removed (with whatever is mounted in it, lazily) when dropped.
pub(crate) struct TempDir(pub std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub(crate) struct Exec<'a> {
    pub opts: &'a BuildOptions,
    pub plan: &'a BuildPlan,
    pub store: Store,
    pub records: records::Records,
    pub report: progress::Reporter,
    pub times: Times,
    pub tmp: TempDir,
    pub results: Vec<Option<StageResult>>,
    pub context: crate::context::Context,
    pub compression: LayerCompression,
    /// The single-threaded process RUN containers are created from (unless an external
    /// runtime was asked for with `$BERTH_BUILD_RUNTIME`).
    pub helper: Option<&'static helper::Helper>,
}

/// `SOURCE_DATE_EPOCH` from the environment or the build args.
pub fn source_date_epoch(opts: &BuildOptions) -> Result<Option<i64>> {
    let v = opts.build_args.get("SOURCE_DATE_EPOCH").cloned().or_else(|| std::env::var("SOURCE_DATE_EPOCH").ok());
    match v {
        None => Ok(None),
        Some(s) if s.is_empty() => Ok(None),
        Some(s) => Ok(Some(s.trim().parse::<i64>().with_context(|| format!("invalid SOURCE_DATE_EPOCH {s:?}: expected seconds since 1970"))?)),
    }
}

static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// SIGINT or SIGTERM arrived: running containers are stopped and the build unwinds (its
/// work directory removed, the store untouched but for completed commits).
pub fn interrupted() -> bool {
    INTERRUPTED.load(std::sync::atomic::Ordering::Relaxed)
}

extern "C" fn on_signal(_: libc::c_int) {
    INTERRUPTED.store(true, std::sync::atomic::Ordering::Relaxed);
}

fn catch_interrupts() {
    // SAFETY: the handler only stores to an atomic (async-signal-safe); sigaction is given a
    // zeroed struct with the handler and an empty mask.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_signal as *const () as usize;
        libc::sigemptyset(&mut sa.sa_mask);
        for sig in [libc::SIGINT, libc::SIGTERM] {
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

pub fn build(opts: &BuildOptions, plan: BuildPlan) -> Result<()> {
    catch_interrupts();
    rootfs::private_mounts().context("creating a private mount namespace for the build (berth-build runs as root)")?;
    let store = Store::open(&opts.store_root).with_context(|| format!("opening the store at {}", opts.store_root.display()))?;
    let records = records::Records::open(&store).context("opening the build cache")?;
    remove_stale_tmp(&store.root().join("build-tmp"));
    let tmp_dir = store.root().join("build-tmp").join(format!("{}-{}", std::process::id(), now_secs()));
    std::fs::create_dir_all(&tmp_dir).with_context(|| format!("creating {}", tmp_dir.display()))?;
    let tmp = TempDir(tmp_dir);
    // Before any thread exists: the runtime library forks containers from this helper.
    let helper = match std::env::var_os("BERTH_BUILD_RUNTIME") {
        Some(_) => None,
        None => {
            let state = tmp.0.join("runtime-state");
            std::fs::create_dir_all(&state).with_context(|| format!("creating {}", state.display()))?;
            Some(&*Box::leak(Box::new(helper::Helper::spawn(&state).context("starting the runtime helper process")?)))
        }
    };
    let context = crate::context::Context::open(&opts.context, Some(&opts.dockerfile)).map_err(|e| anyhow::anyhow!("build context {}: {e}", opts.context.display()))?;
    context.load_hashes(records.context_hashes(&opts.context));
    let times = Times { now: now_secs(), epoch: source_date_epoch(opts)? };
    let mut ex = Exec {
        opts,
        plan: &plan,
        store,
        records,
        report: progress::Reporter::with_mode(match opts.progress {
            crate::options::Progress::Tty => true,
            crate::options::Progress::Plain => false,
            crate::options::Progress::Auto => std::io::IsTerminal::is_terminal(&std::io::stderr()),
        }),
        times,
        tmp,
        results: vec![None; plan.dockerfile.stages.len()],
        context,
        compression: LayerCompression::Gzip,
        helper,
    };
    let name = crate::cli::build::display_name(opts);
    // Stages that do not depend on each other run side by side, one thread each. (RUN goes
    // through a runtime process today; the in-process runtime library will need a
    // single-threaded runner process instead.)
    for wave in plan.graph.waves() {
        let done: Vec<(usize, Result<StageResult, Failure>)> = if wave.len() == 1 {
            vec![(wave[0], ex.run_stage(wave[0]))]
        } else {
            let exr = &ex;
            std::thread::scope(|s| {
                let handles: Vec<_> = wave.iter().map(|&i| (i, s.spawn(move || exr.run_stage(i)))).collect();
                handles.into_iter().map(|(i, h)| (i, h.join().unwrap_or_else(|_| Err(Failure { line: 0, instruction: String::new(), message: format!("stage {i} panicked") })))).collect()
            })
        };
        for (i, r) in done {
            if interrupted() {
                anyhow::bail!("interrupted");
            }
            ex.results[i] = Some(r.map_err(|f| anyhow::anyhow!("{}", f.message(&name)))?);
        }
    }
    let target = ex.results[plan.graph.target].take().expect("target stage was built");
    let _ = ex.records.put_context_hashes(&opts.context, &ex.context.hashes());
    ex.finish(target)
}

/// Work directories of builds that died (SIGINT, a crash): their mounts died with their
/// private mount namespace, their files are removed here.
fn remove_stale_tmp(dir: &std::path::Path) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.split('-').next().and_then(|p| p.parse::<u32>().ok()) else { continue };
        if pid != std::process::id() && !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

fn now_secs() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

impl Exec<'_> {
    fn created(&self) -> String {
        rfc3339(self.times.created())
    }

    /// Write the target stage as an image: reuse the config of an identical earlier build
    /// (same layers and settings) so a no-op rebuild gives the same image id.
    fn finish(&mut self, r: StageResult) -> Result<()> {
        let container = serde_json::to_value(&r.config).and_then(serde_json::from_value).context("image config")?;
        let mut cfg = ImageConfig {
            created: Some(self.created()),
            author: r.author.clone(),
            architecture: r.arch.clone(),
            os: r.os.clone(),
            variant: r.variant.clone(),
            config: Some(container),
            rootfs: RootFs { kind: "layers".into(), diff_ids: r.diff_ids.clone() },
            history: r.history.clone(),
            extra: Default::default(),
        };
        let key = image_key(&cfg, self.times.epoch);
        if !self.opts.no_cache {
            if let Some(rec) = self.records.image(&key) {
                if let Ok(prev) = serde_json::from_str::<ImageConfig>(&rec.config) {
                    if image_key(&prev, self.times.epoch) == key {
                        cfg = prev;
                    }
                }
            }
        }
        let first = self.opts.tags.first().map(String::as_str);
        let img = self.store.put_image(&cfg, &r.layers, first).context("writing the image")?;
        let _ = self.records.put_image(&key, &records::ImageRecord { config: String::from_utf8_lossy(&img.config_bytes).into_owned() });
        for t in self.opts.tags.iter().skip(1) {
            self.store.tag(first.unwrap_or(img.descriptor.digest.as_str()), t).with_context(|| format!("tagging {t}"))?;
        }
        let name = first.map(str::to_string).unwrap_or_else(|| img.descriptor.digest.to_string());
        match &self.opts.output {
            Output::Store => {}
            Output::Oci(dest) | Output::Docker(dest) => {
                let fmt = if matches!(self.opts.output, Output::Oci(_)) { berth_store::archive::ArchiveFormat::Oci } else { berth_store::archive::ArchiveFormat::Docker };
                self.store.export(std::slice::from_ref(&name), dest, fmt).with_context(|| format!("exporting to {}", dest.display()))?;
                self.report.line(&format!("exported {name} to {}", dest.display()));
            }
        }
        if self.opts.push {
            let o = berth_store::registry::PushOptions { registry: berth_store::registry::RegistryOptions { insecure: self.opts.insecure, ..Default::default() } };
            for t in &self.opts.tags {
                let d = self.store.push(t, None, &o, &berth_store::NoProgress).with_context(|| format!("pushing {t}"))?;
                self.report.line(&format!("pushed {t}@{d}"));
            }
        }
        for t in &self.opts.tags {
            self.report.line(&format!("naming to {t}"));
        }
        println!("{}", img.id());
        Ok(())
    }
}

/// The key of a final image: its config with every timestamp blanked.
fn image_key(c: &ImageConfig, epoch: Option<i64>) -> Key {
    let mut c = c.clone();
    c.created = None;
    for h in &mut c.history {
        h.created = None;
    }
    let mut h = Sha256::new();
    h.update(b"berth-build image v1\0");
    h.update(format!("{epoch:?}\0").as_bytes());
    h.update(serde_json::to_vec(&c).unwrap_or_default());
    Key(hex(&h.finalize()))
}

pub(crate) fn history(created: String, created_by: String, empty: bool) -> History {
    History { created: Some(created), created_by: Some(created_by), author: None, comment: None, empty_layer: empty.then_some(true) }
}
