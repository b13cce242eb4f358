//! Input as error messages repeat it: cut, so a megabyte payload or tag value never becomes a
//! megabyte error or log line. A leaf: every parser may use it.

/// How much of a piece of input an error message repeats: enough to recognise it.
const MAX_ECHO_CHARS: usize = 120;

/// A piece of input as an error message may repeat it: cut to a few dozen characters.
pub fn echo(text: &str) -> String {
    cut(text, MAX_ECHO_CHARS)
}

/// `text` cut after `max_chars` characters, saying how long it was.
pub fn cut(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        None => text.to_string(),
        Some((end, _)) => format!("{}… ({} bytes in all)", &text[..end], text.len()),
    }
}
