//! Aligned text tables that follow the terminal: colour only on a terminal without `NO_COLOR`,
//! and the widest flexible column cut with `…` to fit the terminal's width. Off a terminal
//! (a pipe, a file, a test) the output is plain and nothing is cut.

use std::io::IsTerminal;

/// A flexible column is never cut below this many characters.
const MIN_FLEXIBLE_WIDTH: usize = 12;
const GAP: &str = "  ";

/// What standard output is connected to.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Terminal {
    pub(crate) colour: bool,
    /// Columns of the terminal; `None` off a terminal.
    pub(crate) width: Option<usize>,
}

impl Terminal {
    pub(crate) fn stdout() -> Terminal {
        let stdout = std::io::stdout();
        if !stdout.is_terminal() {
            return Terminal { colour: false, width: None };
        }
        // no-color.org: present and not empty disables colour.
        let colour = std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty());
        let width =
            terminal_size::terminal_size_of(&stdout).map(|(width, _)| usize::from(width.0)).filter(|&width| width > 0);
        Terminal { colour, width }
    }

    /// `text` in an ANSI colour (`31` red, `33` yellow, `32` green) when colour is on.
    pub(crate) fn paint(&self, code: Option<&str>, text: &str) -> String {
        match code {
            Some(code) if self.colour => format!("\x1b[{code}m{text}\x1b[0m"),
            _ => text.to_owned(),
        }
    }
}

/// Column alignment: text left, numbers right.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Align {
    Left,
    Right,
}

/// One row and the colour of its `coloured` column, if any.
pub(crate) struct Row {
    pub(crate) cells: Vec<String>,
    pub(crate) colour: Option<&'static str>,
}

impl Row {
    pub(crate) fn plain(cells: Vec<String>) -> Row {
        Row { cells, colour: None }
    }
}

pub(crate) struct Table<'a> {
    pub(crate) header: &'a [&'a str],
    pub(crate) align: &'a [Align],
    /// The column cut to fit the terminal (a name, a URL, an expression).
    pub(crate) flexible: Option<usize>,
    /// The column painted with a row's colour.
    pub(crate) coloured: Option<usize>,
}

impl Table<'_> {
    /// The header line and one line per row, columns two spaces apart, trailing spaces trimmed.
    pub(crate) fn render(&self, rows: &[Row], terminal: &Terminal) -> Vec<String> {
        let mut widths: Vec<usize> = self.header.iter().map(|title| title.chars().count()).collect();
        for row in rows {
            for (width, cell) in widths.iter_mut().zip(&row.cells) {
                *width = (*width).max(cell.chars().count());
            }
        }
        self.fit(&mut widths, terminal.width);
        let header: Vec<String> = self.header.iter().map(|title| (*title).to_owned()).collect();
        let mut lines = vec![self.line(&header, &widths, None, terminal)];
        lines.extend(rows.iter().map(|row| self.line(&row.cells, &widths, row.colour, terminal)));
        lines
    }

    /// Narrows the flexible column so that the line fits `available` characters.
    fn fit(&self, widths: &mut [usize], available: Option<usize>) {
        let (Some(column), Some(available)) = (self.flexible, available) else { return };
        let total: usize = widths.iter().sum::<usize>() + GAP.len() * widths.len().saturating_sub(1);
        if total > available && column < widths.len() {
            let excess = total - available;
            widths[column] = widths[column].saturating_sub(excess).max(MIN_FLEXIBLE_WIDTH.min(widths[column]));
        }
    }

    fn line(&self, cells: &[String], widths: &[usize], colour: Option<&str>, terminal: &Terminal) -> String {
        let padded: Vec<String> = cells
            .iter()
            .zip(widths)
            .enumerate()
            .map(|(column, (cell, &width))| {
                let cell = cut(cell, width);
                let cell = match self.align.get(column) {
                    Some(Align::Right) => format!("{cell:>width$}"),
                    _ => format!("{cell:<width$}"),
                };
                if Some(column) == self.coloured {
                    terminal.paint(colour, &cell)
                } else {
                    cell
                }
            })
            .collect();
        padded.join(GAP).trim_end().to_owned()
    }
}

/// `text` in at most `width` characters, its end replaced by `…` when cut.
pub(crate) fn cut(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    let kept: String = text.chars().take(width.saturating_sub(1)).collect();
    format!("{kept}…")
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: Table<'static> =
        Table { header: &["NAME", "COUNT"], align: &[Align::Left, Align::Right], flexible: Some(0), coloured: Some(1) };

    #[test]
    fn columns_align_and_numbers_go_right() {
        let rows = [
            Row::plain(vec!["web".into(), "7".into()]),
            Row { cells: vec!["payments".into(), "12".into()], colour: Some("31") },
        ];
        let plain = Terminal { colour: false, width: None };
        assert_eq!(TABLE.render(&rows, &plain), ["NAME      COUNT", "web           7", "payments     12"]);
        let coloured = Terminal { colour: true, width: None };
        assert_eq!(TABLE.render(&rows, &coloured)[2], "payments  \x1b[31m   12\x1b[0m");
    }

    #[test]
    fn the_flexible_column_is_cut_to_fit_the_terminal() {
        let rows = [Row::plain(vec!["a-very-long-service-name-indeed".into(), "1".into()])];
        let narrow = Terminal { colour: false, width: Some(24) };
        let lines = TABLE.render(&rows, &narrow);
        assert_eq!(lines[1], "a-very-long-serv…      1");
        assert!(lines.iter().all(|line| line.chars().count() <= 24), "{lines:?}");
        assert_eq!(cut("abc", 3), "abc");
    }
}
