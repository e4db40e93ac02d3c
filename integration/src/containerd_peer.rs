//! A private containerd (CRI plugin off, own root/state/sockets under a temp dir) for tests
//! that hand it berth's image archives; stopped by pid on drop.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::TempDir;

pub struct Containerd {
    pub socket: PathBuf,
    pub dir: TempDir,
    child: Child,
}

impl Containerd {
    pub fn start() -> Containerd {
        let dir = TempDir::new("ctrd");
        let d = dir.path();
        for s in ["root", "state", "opt"] {
            std::fs::create_dir_all(d.join(s)).unwrap();
        }
        let socket = d.join("containerd.sock");
        let config = format!(
            "version = 2\nroot = \"{0}/root\"\nstate = \"{0}/state\"\ndisabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n[grpc]\n  address = \"{1}\"\n[ttrpc]\n  address = \"{1}.ttrpc\"\n[debug]\n  address = \"{0}/debug.sock\"\n[metrics]\n  address = \"\"\n[plugins.\"io.containerd.internal.v1.opt\"]\n  path = \"{0}/opt\"\n",
            d.display(),
            socket.display()
        );
        std::fs::write(d.join("config.toml"), config).unwrap();
        let log = std::fs::File::create(d.join("containerd.log")).unwrap();
        let child = Command::new("containerd").arg("--config").arg(d.join("config.toml")).stdin(Stdio::null()).stdout(log.try_clone().unwrap()).stderr(log).spawn().expect("containerd");
        let c = Containerd { socket, dir, child };
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if c.ctr(&["version"]).status.success() {
                return c;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("containerd did not start: {}", std::fs::read_to_string(c.dir.path().join("containerd.log")).unwrap_or_default());
    }

    /// `ctr -a SOCKET -n berth-test ARGS...`.
    pub fn ctr(&self, args: &[&str]) -> std::process::Output {
        Command::new("ctr").arg("-a").arg(&self.socket).arg("-n").arg("berth-test").args(args).output().expect("ctr")
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
