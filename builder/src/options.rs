//! What a build is asked to do, as the library takes it (the CLI fills this in).

use std::collections::BTreeMap;
use std::path::PathBuf;

/// Where the image goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Into berth-store under the `-t` tags (the default).
    Store,
    /// An OCI archive (`oci-archive:` layout tar).
    Oci(PathBuf),
    /// A docker-save archive (`docker load`).
    Docker(PathBuf),
}

impl Output {
    /// `type=store`, `type=oci,dest=FILE`, `type=docker,dest=FILE`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut kind = None;
        let mut dest = None;
        for field in s.split(',') {
            match field.split_once('=') {
                Some(("type", v)) => kind = Some(v.to_string()),
                Some(("dest", v)) => dest = Some(PathBuf::from(v)),
                _ => return Err(format!("invalid --output field {field:?}: expected type=... or dest=...")),
            }
        }
        match (kind.as_deref(), dest) {
            (Some("store") | Some("image"), None) => Ok(Output::Store),
            (Some("oci"), Some(d)) => Ok(Output::Oci(d)),
            (Some("docker"), Some(d)) => Ok(Output::Docker(d)),
            (Some("oci" | "docker"), None) => Err(format!("--output {s}: dest=FILE is required")),
            (Some("store" | "image"), Some(_)) => Err(format!("--output {s}: type=store takes no dest")),
            (Some(k), _) => Err(format!("--output {s}: unknown type {k:?} (store, oci, docker)")),
            (None, _) => Err(format!("--output {s}: type= is required")),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    Auto,
    Plain,
    Tty,
}

impl Progress {
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(Progress::Auto),
            "plain" => Ok(Progress::Plain),
            "tty" => Ok(Progress::Tty),
            _ => Err(format!("invalid --progress {s:?}: auto, plain or tty")),
        }
    }
}

/// `--secret id=X,src=FILE` (or `env=VAR`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Secret {
    pub id: String,
    pub source: SecretSource,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    File(PathBuf),
    Env(String),
}

impl Secret {
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut id = None;
        let mut src = None;
        let mut env = None;
        for field in s.split(',') {
            match field.split_once('=') {
                Some(("id", v)) => id = Some(v.to_string()),
                Some(("src" | "source", v)) => src = Some(PathBuf::from(v)),
                Some(("env", v)) => env = Some(v.to_string()),
                Some(("type", "file" | "env")) => {}
                _ => return Err(format!("invalid --secret field {field:?}")),
            }
        }
        let source = match (src, env) {
            (Some(p), None) => SecretSource::File(p),
            (None, Some(e)) => SecretSource::Env(e),
            (None, None) => match &id {
                Some(i) => SecretSource::Env(i.clone()),
                None => return Err(format!("--secret {s}: id= is required")),
            },
            (Some(_), Some(_)) => return Err(format!("--secret {s}: give src= or env=, not both")),
        };
        let id = match id {
            Some(i) => i,
            None => match &source {
                SecretSource::File(p) => p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
                SecretSource::Env(e) => e.clone(),
            },
        };
        if id.is_empty() || id.contains('/') {
            return Err(format!("--secret {s}: invalid id {id:?}"));
        }
        Ok(Secret { id, source })
    }
}

/// A build request.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    pub context: PathBuf,
    pub dockerfile: PathBuf,
    pub tags: Vec<String>,
    pub build_args: BTreeMap<String, String>,
    pub target: Option<String>,
    pub no_cache: bool,
    pub pull: bool,
    pub output: Output,
    pub push: bool,
    pub progress: Progress,
    pub secrets: Vec<Secret>,
    pub insecure: bool,
    pub store_root: PathBuf,
    pub platform: Option<String>,
}

/// `--build-arg K=V`, or `K` alone taking the value from the environment (skipped if unset).
pub fn parse_build_arg(s: &str) -> Option<(String, String)> {
    match s.split_once('=') {
        Some((k, v)) => Some((k.to_string(), v.to_string())),
        None => std::env::var(s).ok().map(|v| (s.to_string(), v)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs() {
        assert_eq!(Output::parse("type=store").unwrap(), Output::Store);
        assert_eq!(Output::parse("type=oci,dest=/x.tar").unwrap(), Output::Oci("/x.tar".into()));
        assert_eq!(Output::parse("dest=/y,type=docker").unwrap(), Output::Docker("/y".into()));
        assert!(Output::parse("type=oci").unwrap_err().contains("dest=FILE is required"));
        assert!(Output::parse("type=tar,dest=x").unwrap_err().contains("unknown type"));
    }

    #[test]
    fn secrets() {
        assert_eq!(Secret::parse("id=tok,src=/run/tok").unwrap(), Secret { id: "tok".into(), source: SecretSource::File("/run/tok".into()) });
        assert_eq!(Secret::parse("id=tok,env=TOKEN").unwrap().source, SecretSource::Env("TOKEN".into()));
        assert_eq!(Secret::parse("src=/a/key.pem").unwrap().id, "key.pem");
        assert!(Secret::parse("id=a,src=x,env=y").is_err());
        assert!(Secret::parse("bogus=1").is_err());
    }

    #[test]
    fn build_args() {
        assert_eq!(parse_build_arg("A=1=2"), Some(("A".into(), "1=2".into())));
        assert_eq!(parse_build_arg("BERTH_SURELY_UNSET_VAR"), None);
    }
}
