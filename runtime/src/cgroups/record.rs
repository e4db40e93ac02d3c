//! What `create` learns while making the cgroup (which directories it made; whether it had to
//! run without one). `create` takes `&self` — the planned cgroup is shared by reference while
//! the container is set up — so these sit behind interior mutability, and still serialize as
//! plain fields of the `Cgroup` in `state.json`.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Directories made by `create`, parents first.
#[derive(Debug, Default)]
pub struct Created(Mutex<Vec<PathBuf>>);

impl Created {
    pub fn get(&self) -> Vec<PathBuf> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
    pub fn set(&self, dirs: Vec<PathBuf>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = dirs;
    }
    pub fn is_empty(&self) -> bool {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).is_empty()
    }
}

impl From<Vec<PathBuf>> for Created {
    fn from(v: Vec<PathBuf>) -> Self {
        Created(Mutex::new(v))
    }
}

impl Clone for Created {
    fn clone(&self) -> Self {
        self.get().into()
    }
}

impl PartialEq for Created {
    fn eq(&self, other: &Self) -> bool {
        self.get() == other.get()
    }
}
impl Eq for Created {}

impl Serialize for Created {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.get().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Created {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Vec::<PathBuf>::deserialize(d).map(Created::from)
    }
}

/// A flag set once.
#[derive(Debug, Default)]
pub struct Flag(AtomicBool);

impl Flag {
    pub fn get(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
    pub fn set(&self) {
        self.0.store(true, Ordering::Relaxed)
    }
    pub fn is_unset(&self) -> bool {
        !self.get()
    }
}

impl Clone for Flag {
    fn clone(&self) -> Self {
        Flag(AtomicBool::new(self.get()))
    }
}

impl PartialEq for Flag {
    fn eq(&self, other: &Self) -> bool {
        self.get() == other.get()
    }
}
impl Eq for Flag {}

impl Serialize for Flag {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.get().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        bool::deserialize(d).map(|b| Flag(AtomicBool::new(b)))
    }
}

/// Resources given before a systemd unit exists (the unit starts with the container's init,
/// in `add_process`, and gets them then). Not serialized: by the time state.json is written
/// the unit has started.
#[derive(Debug, Default)]
pub struct Pending(Mutex<Option<oci_spec::runtime::LinuxResources>>);

impl Pending {
    pub fn put(&self, r: oci_spec::runtime::LinuxResources) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(r);
    }
    pub fn take(&self) -> Option<oci_spec::runtime::LinuxResources> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

impl Clone for Pending {
    fn clone(&self) -> Self {
        Pending(Mutex::new(self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()))
    }
}

/// Pending resources are transient: they never make two cgroups different.
impl PartialEq for Pending {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl Eq for Pending {}
