//! Aligned tables for people (colour only on a terminal) and JSON for programs.

use serde::Serialize;

#[derive(Debug, Clone, Copy)]
pub struct Output {
    pub json: bool,
    pub colour: bool,
}

/// A table cell: its text and, on a terminal, an ANSI colour.
pub struct Cell {
    text: String,
    colour: Option<&'static str>,
}

impl Cell {
    pub fn plain(text: impl Into<String>) -> Cell {
        Cell { text: text.into(), colour: None }
    }

    /// Coloured by what it says: a service's state or a planned action.
    pub fn state(text: impl Into<String>) -> Cell {
        let text = text.into();
        let colour = match text.as_str() {
            "awake" | "wake" | "restored" | "would_restore" => Some("32"),
            "asleep" | "sleep" | "scaled_down" | "would_scale_down" | "kept_asleep" => Some("34"),
            "kept-alive" => Some("33"),
            "protected" | "not-managed" | "half-way" | "failed" => Some("35"),
            _ => None,
        };
        Cell { text, colour }
    }
}

impl Output {
    pub fn json<T: Serialize>(&self, value: &T) -> String {
        serde_json::to_string_pretty(value).expect("serialisable") + "\n"
    }

    pub fn bold(&self, text: &str) -> String {
        if self.colour {
            format!("\u{1b}[1m{text}\u{1b}[0m")
        } else {
            text.to_string()
        }
    }

    /// Columns padded to their widest cell, two spaces apart; the last column is not padded.
    pub fn table(&self, headers: &[&str], rows: Vec<Vec<Cell>>) -> String {
        let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
        for row in &rows {
            for (i, cell) in row.iter().enumerate() {
                widths[i] = widths[i].max(cell.text.chars().count());
            }
        }
        let mut out = String::new();
        let header: Vec<Cell> = headers.iter().map(|h| Cell::plain(*h)).collect();
        self.line(&mut out, &header, &widths, true);
        for row in &rows {
            self.line(&mut out, row, &widths, false);
        }
        out
    }

    fn line(&self, out: &mut String, cells: &[Cell], widths: &[usize], header: bool) {
        let mut line = String::new();
        for (i, cell) in cells.iter().enumerate() {
            let last = i + 1 == cells.len();
            let pad = if last { 0 } else { widths[i] - cell.text.chars().count() + 2 };
            let text = match (self.colour, cell.colour, header) {
                (_, _, true) => self.bold(&cell.text),
                (true, Some(code), false) => format!("\u{1b}[{code}m{}\u{1b}[0m", cell.text),
                _ => cell.text.clone(),
            };
            line.push_str(&text);
            line.push_str(&" ".repeat(pad));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_and_colour_only_when_asked() {
        let rows = || {
            vec![vec![Cell::plain("previews/web"), Cell::state("awake")], vec![Cell::plain("a"), Cell::state("asleep")]]
        };
        let plain = Output { json: false, colour: false }.table(&["SERVICE", "STATE"], rows());
        assert_eq!(plain, "SERVICE       STATE\npreviews/web  awake\na             asleep\n");
        let coloured = Output { json: false, colour: true }.table(&["SERVICE", "STATE"], rows());
        assert!(coloured.contains("\u{1b}[32mawake\u{1b}[0m"), "{coloured:?}");
    }
}
