//! `RUN --mount=...` options (BuildKit's CSV syntax and rules).

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MountType {
    Bind,
    Cache,
    Tmpfs,
    Secret,
    Ssh,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sharing {
    Shared,
    Private,
    Locked,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Mount {
    pub kind: MountType,
    pub from: Option<String>,
    pub source: Option<String>,
    pub target: Option<String>,
    pub readonly: bool,
    pub id: Option<String>,
    pub sharing: Sharing,
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub required: bool,
    pub size: Option<u64>,
    /// Secret exposed as this environment variable.
    pub env: Option<String>,
}

/// Split on commas outside double quotes; quotes are removed (Go's csv reader, simplified).
fn csv_fields(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_q = false;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if in_q && chars.peek() == Some(&'"') => {
                chars.next();
                cur.push('"');
            }
            '"' => in_q = !in_q,
            ',' if !in_q => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    if in_q {
        return Err(format!("invalid mount {s:?}: unterminated quote"));
    }
    out.push(cur);
    Ok(out)
}

fn parse_bool(key: &str, v: &str) -> Result<bool, String> {
    match v {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => Err(format!("invalid value for {key}: {v}")),
    }
}

/// `1g`, `512m`, `100k`, `1024` (bytes, binary units) as docker's RAMInBytes reads them.
pub fn parse_size(v: &str) -> Result<u64, String> {
    let t = v.trim().to_ascii_lowercase();
    let digits = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, unit) = t.split_at(digits);
    let n: f64 = num.parse().map_err(|_| format!("invalid size: {v:?}"))?;
    let mult: u64 = match unit.trim_end_matches('b').trim_end_matches('i') {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        "t" => 1 << 40,
        _ => return Err(format!("invalid size: {v:?}")),
    };
    Ok((n * mult as f64) as u64)
}

/// Parse one `--mount` value (already variable-expanded).
pub fn parse_mount(val: &str) -> Result<Mount, String> {
    let mut m = Mount {
        kind: MountType::Bind,
        from: None,
        source: None,
        target: None,
        readonly: false,
        id: None,
        sharing: Sharing::Shared,
        mode: None,
        uid: None,
        gid: None,
        required: false,
        size: None,
        env: None,
    };
    let mut ro_auto = true;
    let mut sharing_set = false;
    for field in csv_fields(val)? {
        if field.is_empty() {
            continue;
        }
        let (key, value) = match field.split_once('=') {
            Some((k, v)) => (k.to_ascii_lowercase(), Some(v.to_string())),
            None => (field.to_ascii_lowercase(), None),
        };
        let Some(value) = value else {
            match key.as_str() {
                "readonly" | "ro" => {
                    m.readonly = true;
                    ro_auto = false;
                }
                "readwrite" | "rw" => {
                    m.readonly = false;
                    ro_auto = false;
                }
                "required" if matches!(m.kind, MountType::Secret | MountType::Ssh) => m.required = true,
                "required" => return Err(format!("unexpected key 'required' for mount type '{}'", type_name(m.kind))),
                _ => return Err(format!("invalid field '{field}' must be a key=value pair")),
            }
            continue;
        };
        match key.as_str() {
            "type" => {
                m.kind = match value.to_ascii_lowercase().as_str() {
                    "bind" => MountType::Bind,
                    "cache" => MountType::Cache,
                    "tmpfs" => MountType::Tmpfs,
                    "secret" => MountType::Secret,
                    "ssh" => MountType::Ssh,
                    _ => return Err(format!("unsupported mount type {value:?}")),
                }
            }
            "from" => m.from = Some(value),
            "source" | "src" => m.source = Some(value),
            "target" | "dst" | "destination" => m.target = Some(value),
            "readonly" | "ro" => {
                m.readonly = parse_bool(&key, &value)?;
                ro_auto = false;
            }
            "readwrite" | "rw" => {
                m.readonly = !parse_bool(&key, &value)?;
                ro_auto = false;
            }
            "required" => {
                if !matches!(m.kind, MountType::Secret | MountType::Ssh) {
                    return Err(format!("unexpected key 'required' for mount type '{}'", type_name(m.kind)));
                }
                m.required = parse_bool(&key, &value)?;
            }
            "id" => m.id = Some(value),
            "sharing" => {
                m.sharing = match value.to_ascii_lowercase().as_str() {
                    "shared" | "" => Sharing::Shared,
                    "private" => Sharing::Private,
                    "locked" => Sharing::Locked,
                    _ => return Err(format!("unsupported sharing value {value:?}")),
                };
                sharing_set = true;
            }
            "mode" => m.mode = Some(u32::from_str_radix(&value, 8).map_err(|_| format!("invalid value {value} for mode"))?),
            "uid" => m.uid = Some(value.parse().map_err(|_| format!("invalid value {value} for uid"))?),
            "gid" => m.gid = Some(value.parse().map_err(|_| format!("invalid value {value} for gid"))?),
            "size" if m.kind == MountType::Tmpfs => m.size = Some(parse_size(&value)?),
            "env" => m.env = Some(value),
            _ => return Err(format!("unexpected key '{key}' in '{field}'")),
        }
    }
    let file_info_allowed = matches!(m.kind, MountType::Secret | MountType::Ssh | MountType::Cache);
    if !file_info_allowed {
        for (set, what) in [(m.mode.is_some(), "mode"), (m.uid.is_some(), "uid"), (m.gid.is_some(), "gid")] {
            if set {
                return Err(format!("{what} not allowed for \"{}\" type mounts", type_name(m.kind)));
            }
        }
    }
    if ro_auto {
        m.readonly = !matches!(m.kind, MountType::Cache | MountType::Tmpfs);
    }
    if sharing_set && m.kind != MountType::Cache {
        return Err(format!("invalid cache sharing set for {} mount", type_name(m.kind)));
    }
    match m.kind {
        MountType::Secret => {
            if m.from.is_some() {
                return Err("secret mount should not have a from".into());
            }
            if m.source.is_none() && m.target.is_none() && m.id.is_none() && m.env.is_none() {
                return Err("one of source, target required".into());
            }
            if m.source.is_some() && m.id.is_some() {
                return Err("both source and id can't be set".into());
            }
        }
        MountType::Ssh => {}
        _ => {
            if m.target.as_deref().unwrap_or("").is_empty() {
                return Err(format!("mount type {} requires a target", type_name(m.kind)));
            }
        }
    }
    Ok(m)
}

pub fn type_name(k: MountType) -> &'static str {
    match k {
        MountType::Bind => "bind",
        MountType::Cache => "cache",
        MountType::Tmpfs => "tmpfs",
        MountType::Secret => "secret",
        MountType::Ssh => "ssh",
    }
}

impl Mount {
    /// The secret's id: `id=`, else the base name of `target`/`source`.
    pub fn secret_id(&self) -> String {
        if let Some(id) = &self.id {
            return id.clone();
        }
        let p = self.source.as_deref().or(self.target.as_deref()).unwrap_or("");
        p.rsplit('/').next().unwrap_or(p).to_string()
    }
    /// Where a secret lands: `target=`, else `/run/secrets/<id>` (unless it is env-only).
    pub fn secret_target(&self) -> Option<String> {
        if let Some(t) = &self.target {
            return Some(t.clone());
        }
        if self.env.is_some() {
            return None;
        }
        Some(format!("/run/secrets/{}", self.secret_id()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_defaults() {
        let m = parse_mount("type=cache,target=/root/.cache,id=pip,sharing=locked,mode=0700,uid=1000").unwrap();
        assert_eq!(m.kind, MountType::Cache);
        assert!(!m.readonly);
        assert_eq!(m.sharing, Sharing::Locked);
        assert_eq!(m.mode, Some(0o700));
        assert_eq!(m.uid, Some(1000));
        let m = parse_mount("target=/src,from=build,source=/out").unwrap();
        assert_eq!(m.kind, MountType::Bind);
        assert!(m.readonly);
        let m = parse_mount("type=bind,target=/src,rw").unwrap();
        assert!(!m.readonly);
        let m = parse_mount("type=tmpfs,target=/t,size=64m").unwrap();
        assert_eq!(m.size, Some(64 << 20));
        let m = parse_mount("type=secret,id=tok").unwrap();
        assert_eq!(m.secret_target().as_deref(), Some("/run/secrets/tok"));
        let m = parse_mount("type=secret,id=tok,env=TOKEN,required").unwrap();
        assert!(m.required);
        assert_eq!(m.secret_target(), None);
        let m = parse_mount("type=secret,target=/etc/x.key").unwrap();
        assert_eq!(m.secret_id(), "x.key");
    }

    #[test]
    fn errors() {
        let e = |s| parse_mount(s).unwrap_err();
        assert_eq!(e("type=nfs,target=/x"), "unsupported mount type \"nfs\"");
        assert_eq!(e("type=bind"), "mount type bind requires a target");
        assert_eq!(e("type=bind,target=/x,mode=0700"), "mode not allowed for \"bind\" type mounts");
        assert_eq!(e("type=bind,target=/x,sharing=locked"), "invalid cache sharing set for bind mount");
        assert_eq!(e("type=cache,target=/x,sharing=weird"), "unsupported sharing value \"weird\"");
        assert_eq!(e("type=cache,target=/x,bogus=1"), "unexpected key 'bogus' in 'bogus=1'");
        assert_eq!(e("type=cache,target=/x,bogus"), "invalid field 'bogus' must be a key=value pair");
        assert_eq!(e("type=secret"), "one of source, target required");
        assert_eq!(e("type=secret,id=a,source=b"), "both source and id can't be set");
        assert_eq!(e("type=cache,target=/x,required"), "unexpected key 'required' for mount type 'cache'");
        assert_eq!(e("type=cache,target=/x,mode=9"), "invalid value 9 for mode");
    }
}
