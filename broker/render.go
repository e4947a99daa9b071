package broker

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"io"
	"strings"
	"unicode/utf8"
)

// Output formats of reports.
const (
	FormatJSON  = "json"
	FormatCSV   = "csv"
	FormatTable = "table"
)

// ContentType returns the MIME type of a report format.
func ContentType(format string) string {
	switch format {
	case FormatCSV:
		return "text/csv; charset=utf-8"
	case FormatTable:
		return "text/plain; charset=utf-8"
	}
	return "application/json"
}

// Render writes the report as JSON, CSV or an aligned text table.
func (r *Report) Render(w io.Writer, format string) error {
	switch format {
	case FormatJSON, "":
		bw := bufio.NewWriterSize(w, 64<<10)
		if err := json.NewEncoder(bw).Encode(r); err != nil {
			return err
		}
		return bw.Flush()
	case FormatCSV:
		cw := csv.NewWriter(w)
		cw.Write(r.header)
		r.rows(func(row []string) { cw.Write(row) })
		cw.Flush()
		return cw.Error()
	case FormatTable:
		return r.renderTable(w)
	}
	return apiErr("bad_request", "unknown format %q (want json, csv or table)", format)
}

// renderTable writes an aligned table: a header in capitals, then rows,
// columns separated by two spaces.
func (r *Report) renderTable(w io.Writer) error {
	widths := make([]int, len(r.header))
	var rows [][]string
	for i, h := range r.header {
		widths[i] = len(h)
	}
	r.rows(func(row []string) {
		for i, c := range row {
			if n := utf8.RuneCountInString(c); n > widths[i] {
				widths[i] = n
			}
		}
		rows = append(rows, row)
	})
	bw := bufio.NewWriterSize(w, 64<<10)
	line := func(cells []string) {
		for i, c := range cells {
			bw.WriteString(c)
			if i < len(cells)-1 {
				bw.WriteString(strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c)+2))
			}
		}
		bw.WriteByte('\n')
	}
	head := make([]string, len(r.header))
	for i, h := range r.header {
		head[i] = strings.ToUpper(h)
	}
	line(head)
	for _, row := range rows {
		line(row)
	}
	return bw.Flush()
}
