//! What the template and the README promise, read from the files themselves: the IAM guard, the
//! parameters' allowed values, the README's commands and names.

mod readme;
mod template_guard;
