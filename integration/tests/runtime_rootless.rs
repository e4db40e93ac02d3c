//! Rootless: `berth` run by an unprivileged user with a user namespace, as runc runs rootless.
//! Each test (as root) makes its own throwaway user with a subordinate id range, a bundle whose
//! rootfs that user owns (so uid 0 inside is the user), and a config from `berth spec
//! --rootless` run as that user; then everything runs as the user, with the default state root
//! `$XDG_RUNTIME_DIR/berth`. The user, its /etc/subuid and /etc/subgid entries and its
//! directories are removed even when a test fails (`TestUser`'s Drop).

use berth_integration::runtime::output_via_files;
use berth_integration::{bin, make_busybox_rootfs, unique_id, TempDir};
use serde_json::{json, Value};
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// `None` (with the reason printed) when the host cannot run these tests.
fn newuidmap_present() -> bool {
    let found = ["/usr/bin/newuidmap", "/bin/newuidmap", "/usr/local/bin/newuidmap"].iter().any(|p| Path::new(p).exists())
        && ["/usr/bin/newgidmap", "/bin/newgidmap", "/usr/local/bin/newgidmap"].iter().any(|p| Path::new(p).exists());
    if !found {
        println!("SKIP: newuidmap/newgidmap not installed (Debian package uidmap, hack/install-deps.sh)");
    }
    found
}

/// A throwaway unprivileged user with a subordinate uid/gid range, its directories, and the
/// berth binary it runs. Dropping it deletes its containers, its subid entries and the user.
struct TestUser {
    name: String,
    uid: u32,
    gid: u32,
    subid_start: u32,
    tmp: TempDir,
    berth: PathBuf,
}

const SUBID_COUNT: u32 = 65536;

/// shadow's tools lock /etc/passwd, /etc/subuid, ...: another test (or helper) editing them at
/// the same moment makes them fail with "cannot lock"; retry those.
fn shadow_tool(args: &[&str]) -> Output {
    for _ in 0..100 {
        let o = Command::new(args[0]).args(&args[1..]).stdin(Stdio::null()).output().unwrap_or_else(|e| panic!("{}: {e}", args[0]));
        let err = String::from_utf8_lossy(&o.stderr);
        if o.status.success() || !(err.contains("lock") || err.contains("try again")) {
            return o;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("{args:?}: the shadow files stayed locked");
}

impl TestUser {
    fn new(prefix: &str) -> TestUser {
        // A user name: at most 32 chars, starting with a letter.
        let name = unique_id(&format!("brl{prefix}")).replace('-', "_");
        assert!(name.len() <= 32, "user name {name} too long");
        let tmp = TempDir::new(&format!("rootless-{prefix}"));
        chmod(tmp.path(), 0o755);
        // No automatic subid range: the test adds its own, and removes exactly that.
        let o = shadow_tool(&["useradd", "-M", "-K", "SUB_UID_COUNT=0", "-K", "SUB_GID_COUNT=0", "-s", "/bin/sh", &name]);
        assert!(o.status.success(), "useradd {name}: {}", String::from_utf8_lossy(&o.stderr));
        let id = |flag: &str| -> u32 {
            let o = Command::new("id").args([flag, &name]).output().unwrap();
            String::from_utf8_lossy(&o.stdout).trim().parse().unwrap()
        };
        let (uid, gid) = (id("-u"), id("-g"));
        // Uids are unique on the host, so is this range among the test users alive at once
        // (high enough to stay clear of useradd's 100000.. allocations).
        let subid_start = 0x4000_0000 + (uid % 16384) * SUBID_COUNT;
        let mut u = TestUser { name, uid, gid, subid_start, tmp, berth: PathBuf::new() };
        let range = format!("{}-{}", subid_start, subid_start + SUBID_COUNT - 1);
        let o = shadow_tool(&["usermod", "--add-subuids", &range, "--add-subgids", &range, &u.name]);
        assert!(o.status.success(), "usermod --add-subuids {range} {}: {}", u.name, String::from_utf8_lossy(&o.stderr));
        for d in ["home", "xdg"] {
            let p = u.tmp.path().join(d);
            std::fs::create_dir(&p).unwrap();
            chmod(&p, 0o700);
            chown(&p, uid, gid);
        }
        u.berth = reachable_berth(u.tmp.path());
        u
    }

    fn xdg(&self) -> PathBuf {
        self.tmp.path().join("xdg")
    }

    /// A command run as this user, with a login-like environment.
    fn cmd(&self, prog: &Path) -> Command {
        let mut c = Command::new(prog);
        c.uid(self.uid)
            .gid(self.gid)
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
            .env("HOME", self.tmp.path().join("home"))
            .env("USER", &self.name)
            .env("XDG_RUNTIME_DIR", self.xdg())
            .current_dir(self.tmp.path().join("home"))
            .stdin(Stdio::null());
        c
    }

    /// `berth ARGS` as this user; output through files (a detached container keeps them open).
    fn berth(&self, args: &[&str]) -> Output {
        output_via_files(self.cmd(&self.berth).args(args), self.tmp.path())
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.berth(args);
        let out = String::from_utf8_lossy(&o.stdout).into_owned();
        assert!(o.status.success(), "berth {args:?} as {}: {}\nstdout: {out}", self.name, String::from_utf8_lossy(&o.stderr));
        out
    }

    /// A busybox bundle owned by the user, its config written by `berth spec --rootless` run
    /// as the user, with `args`, no terminal and a writable root.
    fn bundle(&self, args: &[&str]) -> (PathBuf, Value) {
        let dir = self.tmp.path().join(unique_id("bundle"));
        make_busybox_rootfs(&dir.join("rootfs"));
        let o = Command::new("chown").args(["-R", &format!("{}:{}", self.uid, self.gid)]).arg(&dir).output().unwrap();
        assert!(o.status.success(), "chown -R {}: {}", dir.display(), String::from_utf8_lossy(&o.stderr));
        let d = dir.to_str().unwrap();
        self.ok(&["spec", "--rootless", "--bundle", d]);
        let mut spec: Value = serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap();
        spec["process"]["terminal"] = json!(false);
        spec["process"]["args"] = json!(args);
        spec["root"]["readonly"] = json!(false);
        save(&dir, &spec);
        (dir, spec)
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        // Containers a failed test left: force-delete them as the user (kills their processes).
        if let Ok(o) = self.cmd(&self.berth).args(["list", "-q"]).output() {
            for id in String::from_utf8_lossy(&o.stdout).lines().filter(|l| !l.is_empty()) {
                let _ = self.cmd(&self.berth).args(["delete", "--force", id]).output();
            }
        }
        let range = format!("{}-{}", self.subid_start, self.subid_start + SUBID_COUNT - 1);
        let _ = shadow_tool(&["usermod", "--del-subuids", &range, "--del-subgids", &range, &self.name]);
        let o = shadow_tool(&["userdel", "-f", &self.name]);
        if !o.status.success() {
            eprintln!("userdel {}: {}", self.name, String::from_utf8_lossy(&o.stderr));
        }
        // The TempDir (bundles, home, state root) goes after this.
    }
}

fn save(dir: &Path, spec: &Value) {
    std::fs::write(dir.join("config.json"), serde_json::to_vec_pretty(spec).unwrap()).unwrap();
}

fn chmod(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn chown(p: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::chown(p, Some(uid), Some(gid)).unwrap_or_else(|e| panic!("chown {}: {e}", p.display()));
}

/// The built berth when every directory up to it is searchable by others, else a root-owned
/// copy in `dir` (root-owned either way, as an installed binary is).
fn reachable_berth(dir: &Path) -> PathBuf {
    let b = bin("berth");
    let open = b.ancestors().skip(1).all(|d| std::fs::metadata(d).is_ok_and(|m| m.mode() & 0o001 != 0))
        && std::fs::metadata(&b).is_ok_and(|m| m.mode() & 0o005 == 0o005);
    if open {
        return b;
    }
    let copy = dir.join("berth");
    std::fs::copy(&b, &copy).unwrap();
    chmod(&copy, 0o755);
    copy
}

fn text(o: &Output) -> (String, String) {
    (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

/// Map lines as numbers, whatever the kernel's padding.
fn map_lines(s: &str) -> Vec<Vec<u64>> {
    s.lines()
        .map(|l| l.split_whitespace().filter_map(|x| x.parse().ok()).collect::<Vec<u64>>())
        .filter(|v| v.len() == 3)
        .collect()
}

#[test]
fn spec_rootless_matches_runc_and_runs_as_root_of_a_user_namespace() {
    if !newuidmap_present() {
        return;
    }
    let u = TestUser::new("spec");
    let (dir, mut spec) = u.bundle(&["sh", "-c", "id -u; id -g; echo ---; cat /proc/self/uid_map; echo ---; cat /proc/self/gid_map; echo ---; cat /proc/self/oom_score_adj; echo x > /dev/null"]);
    // runc's rootless spec: the caller's ids mapped to root, no network namespace, /sys bound
    // from the host, devpts without gid=5, no device rules.
    let linux = &spec["linux"];
    assert_eq!(linux["uidMappings"], json!([{"containerID": 0, "hostID": u.uid, "size": 1}]));
    assert_eq!(linux["gidMappings"], json!([{"containerID": 0, "hostID": u.gid, "size": 1}]));
    let ns: Vec<&str> = linux["namespaces"].as_array().unwrap().iter().map(|n| n["type"].as_str().unwrap()).collect();
    assert_eq!(ns, ["pid", "ipc", "uts", "mount", "user"]);
    assert!(linux.get("resources").is_none(), "{linux}");
    let mounts = spec["mounts"].as_array().unwrap();
    let sys = mounts.iter().find(|m| m["destination"] == "/sys").unwrap();
    assert_eq!(sys, &json!({"destination": "/sys", "type": "none", "source": "/sys", "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]}));
    let pts = mounts.iter().find(|m| m["destination"] == "/dev/pts").unwrap();
    assert!(!pts["options"].as_array().unwrap().iter().any(|o| o == "gid=5"), "{pts}");
    // ... and exactly what runc writes, apart from the hostname and the spec version.
    if Path::new("/usr/sbin/runc").exists() || Path::new("/usr/bin/runc").exists() {
        let rdir = u.tmp.path().join("runc-spec");
        std::fs::create_dir(&rdir).unwrap();
        chown(&rdir, u.uid, u.gid);
        let runc = if Path::new("/usr/sbin/runc").exists() { "/usr/sbin/runc" } else { "/usr/bin/runc" };
        let o = output_via_files(u.cmd(Path::new(runc)).args(["spec", "--rootless", "--bundle"]).arg(&rdir), u.tmp.path());
        assert!(o.status.success(), "runc spec --rootless: {}", text(&o).1);
        let mut theirs: Value = serde_json::from_slice(&std::fs::read(rdir.join("config.json")).unwrap()).unwrap();
        let mut ours: Value = serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap();
        ours["process"]["terminal"] = json!(true);
        ours["process"]["args"] = json!(["sh"]);
        ours["root"]["readonly"] = json!(true);
        for v in [&mut theirs, &mut ours] {
            v.as_object_mut().unwrap().remove("hostname");
            v.as_object_mut().unwrap().remove("ociVersion");
        }
        assert_eq!(ours, theirs, "berth spec --rootless differs from runc's");
    }

    // Foreground run as the user: root inside, the one-id map written without newuidmap;
    // oom_score_adj raised (the runtime writes it: the init's own /proc files are host root's).
    spec["process"]["oomScoreAdj"] = json!(1000);
    save(&dir, &spec);
    let id = unique_id("rl");
    let o = u.berth(&["run", "--bundle", dir.to_str().unwrap(), &id]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "run: {err}\nstdout: {out}");
    let parts: Vec<&str> = out.split("---\n").collect();
    assert_eq!(parts[0].lines().collect::<Vec<_>>(), ["0", "0"], "{out}");
    assert_eq!(map_lines(parts[1]), vec![vec![0, u.uid as u64, 1]], "{out}");
    assert_eq!(map_lines(parts[2]), vec![vec![0, u.gid as u64, 1]], "{out}");
    assert_eq!(parts[3].trim(), "1000", "{out}");
    // The state root is $XDG_RUNTIME_DIR/berth, the user's, sticky as runc makes it; empty again.
    let root = std::fs::metadata(u.xdg().join("berth")).unwrap();
    assert_eq!((root.uid(), root.mode() & 0o7777), (u.uid, 0o1700));
    assert!(!u.xdg().join("berth").join(&id).exists(), "state of {id} left behind");

    // Without XDG_RUNTIME_DIR and --root, a non-root user gets a clear error, not EACCES on /run.
    let o = output_via_files(u.cmd(&u.berth).env_remove("XDG_RUNTIME_DIR").args(["list"]), u.tmp.path());
    let (_, err) = text(&o);
    assert!(!o.status.success() && err.contains("XDG_RUNTIME_DIR") && err.contains("--root") && err.lines().count() == 1, "{err}");
}

#[test]
fn subordinate_ids_are_mapped_through_newuidmap() {
    if !newuidmap_present() {
        return;
    }
    let u = TestUser::new("map");
    let (dir, mut spec) = u.bundle(&["sh", "-c", "cat /proc/self/uid_map; echo ---; cat /proc/self/gid_map; touch /tmp/owned && chown 1:1 /tmp/owned"]);
    for k in ["uidMappings", "gidMappings"] {
        spec["linux"][k].as_array_mut().unwrap().push(json!({"containerID": 1, "hostID": u.subid_start, "size": SUBID_COUNT}));
    }
    // chown needs CAP_CHOWN (the default set has only three capabilities).
    for set in ["bounding", "effective", "permitted"] {
        spec["process"]["capabilities"][set].as_array_mut().unwrap().push(json!("CAP_CHOWN"));
    }
    save(&dir, &spec);
    let id = unique_id("rlmap");
    let o = u.berth(&["run", "--bundle", dir.to_str().unwrap(), &id]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "run: {err}\nstdout: {out}");
    let parts: Vec<&str> = out.split("---\n").collect();
    let want_u = vec![vec![0, u.uid as u64, 1], vec![1, u.subid_start as u64, SUBID_COUNT as u64]];
    let want_g = vec![vec![0, u.gid as u64, 1], vec![1, u.subid_start as u64, SUBID_COUNT as u64]];
    assert_eq!(map_lines(parts[0]), want_u, "{out}");
    assert_eq!(map_lines(parts[1]), want_g, "{out}");
    // uid/gid 1 inside is the first subordinate id on the host.
    let m = std::fs::metadata(dir.join("rootfs/tmp/owned")).unwrap();
    assert_eq!((m.uid(), m.gid()), (u.subid_start, u.subid_start));

    // A range the user was not given: newuidmap refuses, and the error says who and why.
    spec["linux"]["uidMappings"][1]["hostID"] = json!(u.subid_start as u64 + SUBID_COUNT as u64);
    save(&dir, &spec);
    let id = unique_id("rlbad");
    let o = u.berth(&["run", "--bundle", dir.to_str().unwrap(), &id]);
    let (_, err) = text(&o);
    assert!(!o.status.success(), "a range outside /etc/subuid was accepted");
    assert!(err.contains(&format!("container {id:?}")) && err.contains("newuidmap") && err.contains("not allowed"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(!u.xdg().join("berth").join(&id).exists(), "state of the failed {id} left behind");

    // Without newuidmap on PATH: a clear error naming it.
    let o = output_via_files(u.cmd(&u.berth).env("PATH", "/nonexistent").args(["run", "--bundle", dir.to_str().unwrap(), &id]), u.tmp.path());
    let (_, err) = text(&o);
    assert!(!o.status.success() && err.contains(&format!("container {id:?}")) && err.contains("newuidmap: not found"), "{err}");
}

#[test]
fn detached_lifecycle_and_exec_unprivileged() {
    if !newuidmap_present() {
        return;
    }
    let u = TestUser::new("life");
    let (dir, mut spec) = u.bundle(&["sleep", "1000"]);
    // A time namespace takes the init's extra fork (offsets written from inside the user
    // namespace) and exec's two-step entry into it.
    spec["linux"]["namespaces"].as_array_mut().unwrap().push(json!({"type": "time"}));
    spec["linux"]["timeOffsets"] = json!({"boottime": {"secs": 86400, "nanosecs": 0}});
    save(&dir, &spec);
    let id = unique_id("rllife");
    let state = |u: &TestUser| -> Value { serde_json::from_str(&u.ok(&["state", &id])).unwrap() };
    u.ok(&["create", "--bundle", dir.to_str().unwrap(), &id]);
    let st = state(&u);
    assert_eq!(st["status"], "created", "{st}");
    let pid = st["pid"].as_i64().unwrap();
    assert!(pid > 0);
    // The init runs as the user on the host, from the root-owned binary itself: the
    // container's ids cannot write it, so no re-exec through a copy (protect.rs).
    let owner = std::fs::metadata(format!("/proc/{pid}")).unwrap().uid();
    assert_eq!(owner, u.uid, "the init is not the user's");
    assert_eq!(std::fs::read_link(format!("/proc/{pid}/exe")).unwrap(), u.berth);
    u.ok(&["start", &id]);
    assert_eq!(state(&u)["status"], "running");
    let list = u.ok(&["list"]);
    assert!(list.lines().any(|l| l.starts_with(&id) && l.contains("running") && l.trim_end().ends_with(&u.name)), "{list}");
    // exec enters the container's user namespace first (the pid namespace needs it).
    let uptime = |s: &str| -> f64 { s.split_whitespace().next().unwrap().parse().unwrap() };
    let host_up = uptime(&std::fs::read_to_string("/proc/uptime").unwrap());
    let out = u.ok(&["exec", &id, "sh", "-c", "id -u; cat /proc/self/uid_map; echo $$; cat /proc/uptime"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "0", "{out}");
    assert_eq!(map_lines(lines[1]), vec![vec![0, u.uid as u64, 1]], "{out}");
    let exec_pid: u32 = lines[2].trim().parse().unwrap();
    assert!(exec_pid > 1 && exec_pid < 1000, "exec is not in the container's pid namespace: {out}");
    assert!(uptime(lines[3]) >= host_up + 86000.0, "exec is not in the container's time namespace: {out}");
    u.ok(&["kill", &id, "KILL"]);
    for _ in 0..500 {
        if state(&u)["status"] == "stopped" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(state(&u)["status"], "stopped");
    u.ok(&["delete", &id]);
    assert!(!u.xdg().join("berth").join(&id).exists(), "state dir left behind");
    assert!(u.ok(&["list", "-q"]).trim().is_empty());
    let o = u.berth(&["state", &id]);
    assert!(!o.status.success() && text(&o).1.contains("does not exist"));
}

#[test]
fn a_user_owned_binary_runs_from_a_sealed_copy() {
    if !newuidmap_present() {
        return;
    }
    // CVE-2019-5736 rootless: a binary the user (so the container's root) could write is
    // re-executed from a sealed memfd (mounts are out of reach unprivileged), quietly.
    let mut u = TestUser::new("exe");
    let own = u.tmp.path().join("home/berth");
    std::fs::copy(&u.berth, &own).unwrap();
    chown(&own, u.uid, u.gid);
    chmod(&own, 0o755);
    u.berth = own.clone();
    let before = std::fs::read(&own).unwrap();
    let (dir, _) = u.bundle(&["true"]);
    let id = unique_id("rlexe");
    let o = u.berth(&["create", "--bundle", dir.to_str().unwrap(), &id]);
    let (_, err) = text(&o);
    assert!(o.status.success(), "create: {err}");
    assert!(err.trim().is_empty(), "the expected fallback should not warn: {err}");
    let st: Value = serde_json::from_str(&u.ok(&["state", &id])).unwrap();
    let exe = format!("/proc/{}/exe", st["pid"]);
    let target = std::fs::read_link(&exe).unwrap();
    assert!(target.to_string_lossy().contains("memfd:berth"), "the init runs {target:?}, not a sealed copy");
    if let Ok(mut f) = std::fs::OpenOptions::new().write(true).open(&exe) {
        use std::io::Write;
        assert!(f.write_all(b"x").is_err(), "the sealed copy was written");
    }
    u.ok(&["delete", "--force", &id]);
    assert_eq!(std::fs::read(&own).unwrap(), before, "berth binary changed");
}
