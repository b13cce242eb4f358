//! One clear line and a documented exit code for everything that can go wrong.

/// The exit codes (also in the README): 2 is clap's for a usage error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// An AWS call failed, or the wake function reported failed services.
    Failed = 1,
    Usage = 2,
    /// No credentials, or the stack's settings could not be read.
    Setup = 3,
    /// No such service, cluster or stack.
    NotFound = 4,
    /// A protected (or unmanaged) service: the tool refuses.
    Refused = 5,
}

#[derive(Debug)]
pub struct Failure {
    pub code: Code,
    pub message: String,
}

impl Failure {
    pub fn new(code: Code, message: impl Into<String>) -> Failure {
        Failure { code, message: message.into() }
    }
}

impl From<ecs_cost_saver::fleet::CallError> for Failure {
    fn from(e: ecs_cost_saver::fleet::CallError) -> Failure {
        Failure::new(Code::Failed, format!("AWS call failed: {e}"))
    }
}

impl From<ecs_cost_saver::status::LookupError> for Failure {
    fn from(e: ecs_cost_saver::status::LookupError) -> Failure {
        match e {
            ecs_cost_saver::status::LookupError::NotFound(_) => Failure::new(Code::NotFound, e.to_string()),
            ecs_cost_saver::status::LookupError::Call(call) => call.into(),
        }
    }
}
