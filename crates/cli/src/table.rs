//! Column alignment like Go's `tabwriter` with padding 2, as `argocd`
//! prints its tables: each column as wide as its widest cell plus two
//! spaces (empty cells included), a line's last cell unpadded and not
//! counted, no trailing whitespace.

/// Renders rows (the first usually a header) as aligned columns.
pub fn render<S: AsRef<str>>(rows: &[Vec<S>]) -> String {
    render_continued(rows, &mut Vec::new())
}

/// Renders rows printed piece by piece (progress): each column as wide as
/// its widest cell so far, `widths` remembering that across calls, so later
/// rows line up with earlier ones unless a wider cell arrives.
pub fn render_continued<S: AsRef<str>>(rows: &[Vec<S>], widths: &mut Vec<usize>) -> String {
    for row in rows {
        // As in tabwriter, a line's last cell is not tab-terminated and
        // does not widen its column.
        let aligned = row.len().saturating_sub(1);
        if widths.len() < aligned {
            widths.resize(aligned, 0);
        }
        for (i, cell) in row.iter().take(aligned).enumerate() {
            widths[i] = widths[i].max(width(cell.as_ref()));
        }
    }
    lines(rows, widths)
}

/// The rows as lines, each cell but the last padded to its column's width
/// plus two.
fn lines<S: AsRef<str>>(rows: &[Vec<S>], widths: &[usize]) -> String {
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            let cell = single_line(cell.as_ref());
            line.push_str(&cell);
            if i + 1 < row.len() {
                let pad = widths
                    .get(i)
                    .copied()
                    .unwrap_or(0)
                    .saturating_sub(width(&cell))
                    + 2;
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// `Label:` padded to 20 columns, then the value (argocd's `%-20s%s`).
pub fn field(label: &str, value: &str) -> String {
    let line = format!("{:<20}{}", label, single_line(value));
    format!("{}\n", line.trim_end())
}

fn width(s: &str) -> usize {
    single_line(s).chars().count()
}

/// Cells stay on one line so a message cannot break the table.
fn single_line(s: &str) -> String {
    if s.contains(['\n', '\r', '\t']) {
        s.replace(['\n', '\r', '\t'], " ")
    } else {
        s.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_as_wide_as_their_widest_cell_plus_two() {
        let rows = vec![
            vec!["NAME", "STATUS", "MESSAGE"],
            vec!["guestbook", "Synced", "ok"],
            vec!["a", "OutOfSync", ""],
        ];
        assert_eq!(
            render(&rows),
            "NAME       STATUS     MESSAGE\n\
             guestbook  Synced     ok\n\
             a          OutOfSync\n"
        );
    }

    #[test]
    fn a_lines_last_cell_does_not_widen_its_column() {
        let rows = vec![
            vec!["SOURCE", "https://git.example.com/long.git"],
            vec!["ID", "DATE", "REVISION"],
            vec!["0", "today", "main"],
        ];
        assert_eq!(
            render(&rows),
            "SOURCE  https://git.example.com/long.git\n\
             ID      DATE   REVISION\n\
             0       today  main\n"
        );
    }

    #[test]
    fn empty_cells_still_take_their_padding() {
        let rows = vec![vec!["A", "", "C"], vec!["a", "", "c"]];
        assert_eq!(render(&rows), "A    C\na    c\n");
    }

    #[test]
    fn multi_line_cells_are_flattened() {
        let rows = vec![vec!["A", "B"], vec!["x", "line one\nline two"]];
        assert_eq!(render(&rows), "A  B\nx  line one line two\n");
    }

    #[test]
    fn continued_tables_keep_the_widths_seen_so_far() {
        let mut widths = Vec::new();
        let first = render_continued(&[vec!["NAME", "STATUS", "MESSAGE"]], &mut widths);
        let second = render_continued(&[vec!["a", "Synced", "ok"]], &mut widths);
        let third = render_continued(&[vec!["guestbook", "Running", "x"]], &mut widths);
        assert_eq!(first, "NAME  STATUS  MESSAGE\n");
        assert_eq!(second, "a     Synced  ok\n");
        assert_eq!(third, "guestbook  Running  x\n");
        assert_eq!(
            render_continued(&[vec!["b", "Synced", "y"]], &mut widths),
            "b          Synced   y\n"
        );
    }

    #[test]
    fn fields_align_values_at_column_twenty() {
        assert_eq!(
            field("Name:", "guestbook"),
            "Name:               guestbook\n"
        );
        assert_eq!(field("Message:", ""), "Message:\n");
    }

    #[test]
    fn an_empty_table_renders_nothing() {
        let rows: Vec<Vec<&str>> = vec![];
        assert_eq!(render(&rows), "");
    }
}
