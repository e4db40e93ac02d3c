//! The processes of a container: the runtime side of `create` ([`parent`]), the container's
//! init ([`init`]), `exec` ([`exec`]), the steps both share before exec ([`setup`]), and the
//! typed channel between runtime and child ([`channel`]).

pub mod channel;
pub mod exec;
pub mod idmap;
pub mod init;
pub mod parent;
pub mod setup;
