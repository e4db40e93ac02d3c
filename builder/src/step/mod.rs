//! Build steps that change the file system.
