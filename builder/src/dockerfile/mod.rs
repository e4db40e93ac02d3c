//! The Dockerfile front end: the BuildKit reference syntax parsed into typed stages.
//!
//! [`lines`] turns text into logical lines (directives, continuations, heredocs, flags),
//! [`instructions`] checks each instruction and forms stages, [`shell`] substitutes
//! variables when a step is dispatched. Every error carries the line it was found on;
//! [`ParseError::in_file`] gives the user-facing `Dockerfile:7: COPY: ...` form.

pub mod flags;
pub mod instructions;
pub mod lines;
pub mod mount;
pub mod shell;

pub use instructions::*;

/// A static error in a Dockerfile, with its line and instruction.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {}{message}", instruction.as_ref().map(|i| format!("{i}: ")).unwrap_or_default())]
pub struct ParseError {
    pub line: usize,
    pub instruction: Option<String>,
    pub message: String,
}

impl ParseError {
    pub fn at(line: usize, instruction: Option<&str>, message: String) -> Self {
        ParseError { line, instruction: instruction.map(|s| s.to_ascii_uppercase()), message }
    }
    fn with_line(mut self, line: usize) -> Self {
        self.line = line;
        self
    }
    /// `Dockerfile:7: COPY: what is wrong`.
    pub fn in_file(&self, file: &str) -> String {
        if self.line == 0 {
            // Not tied to a line (the --target flag, for one).
            return self.message.clone();
        }
        match &self.instruction {
            Some(i) => format!("{file}:{}: {i}: {}", self.line, self.message),
            None => format!("{file}:{}: {}", self.line, self.message),
        }
    }
}

/// Parse Dockerfile text.
pub fn parse(src: &str) -> Result<Dockerfile, ParseError> {
    instructions::from_nodes(lines::parse(src)?)
}

/// Parse one instruction line (an ONBUILD trigger) with the default escape token.
pub fn parse_trigger(expr: &str) -> Result<Instruction, ParseError> {
    let l = lines::parse(expr)?;
    let node = &l.nodes[0];
    instructions::parse_instruction(node).map_err(|m| ParseError::at(1, Some(&node.cmd), m))
}

#[cfg(test)]
mod tests;
