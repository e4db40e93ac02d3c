//! Build steps that change the file system.
pub mod copy;
pub mod add;
