//! Debian's `docker-registry` (CNCF distribution) on a free loopback port with private
//! storage, optionally with TLS (a self-signed certificate made with openssl) or htpasswd
//! basic auth (bcrypt entries from `htpasswd`). Stopped by pid on drop.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::TempDir;

pub struct Registry {
    pub addr: String,
    pub dir: TempDir,
    /// PEM of the CA that signed the server certificate (TLS registries).
    pub ca: Option<PathBuf>,
    child: Child,
}

#[derive(Default)]
pub struct RegistryConfig {
    pub tls: bool,
    /// (user, password) for htpasswd basic auth.
    pub basic_auth: Option<(String, String)>,
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Registry {
    pub fn start(cfg: RegistryConfig) -> Registry {
        let dir = TempDir::new("registry");
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let storage = dir.path().join("storage");
        std::fs::create_dir_all(&storage).unwrap();
        let mut tls = String::new();
        let mut ca = None;
        if cfg.tls {
            let (ca_cert, _) = make_cert(dir.path());
            tls = format!("  tls:\n    certificate: {}\n    key: {}\n", dir.path().join("server.pem").display(), dir.path().join("server-key.pem").display());
            ca = Some(ca_cert);
        }
        let mut auth = String::new();
        if let Some((u, p)) = &cfg.basic_auth {
            let htpasswd = dir.path().join("htpasswd");
            let st = Command::new("htpasswd").arg("-Bbc").arg(&htpasswd).arg(u).arg(p).stdout(Stdio::null()).stderr(Stdio::null()).status().expect("htpasswd (apt-get install apache2-utils)");
            assert!(st.success(), "htpasswd failed");
            auth = format!("auth:\n  htpasswd:\n    realm: berth-test\n    path: {}\n", htpasswd.display());
        }
        let config = format!(
            "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n  redirect:\n    disable: true\n{auth}http:\n  addr: {addr}\n  secret: berth-test\n{tls}health:\n  storagedriver:\n    enabled: false\n",
            storage.display()
        );
        let cfg_path = dir.path().join("config.yml");
        std::fs::write(&cfg_path, config).unwrap();
        let log = std::fs::File::create(dir.path().join("log")).unwrap();
        let child = Command::new("docker-registry").arg("serve").arg(&cfg_path).stdin(Stdio::null()).stdout(log.try_clone().unwrap()).stderr(log).spawn().expect("docker-registry");
        let r = Registry { addr, dir, ca, child };
        r.wait_ready();
        r
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(&self.addr).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("registry did not start: {}", std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default());
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A CA and a server certificate it signed for 127.0.0.1 / localhost; returns (ca, key)
/// where the server's cert + key are written next to them as server.pem / server-key.pem.
fn make_cert(dir: &Path) -> (PathBuf, PathBuf) {
    let run = |args: &[&str]| {
        let st = Command::new("openssl").args(args).current_dir(dir).stdout(Stdio::null()).stderr(Stdio::null()).status().expect("openssl");
        assert!(st.success(), "openssl {args:?} failed");
    };
    run(&["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=berth test CA", "-keyout", "ca-key.pem", "-out", "ca.pem"]);
    run(&["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", "server-key.pem", "-out", "server.csr"]);
    std::fs::write(dir.join("ext.cnf"), "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n").unwrap();
    run(&["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem", "-CAcreateserial", "-days", "2", "-extfile", "ext.cnf", "-out", "server.pem"]);
    (dir.join("ca.pem"), dir.join("ca-key.pem"))
}
