//! What the template, the README and the layout promise, read from the files themselves: the IAM
//! guard, the parameters' allowed values, the README's commands and names, no import cycles.

mod layout;
mod readme;
mod spoke;
mod template_guard;
