package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/nats-io/nats.go/jetstream"
)

// printJSON prints v as indented JSON: the --json output of commands that
// print one document.
func (a *app) printJSON(v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(a.stdout, "%s\n", b)
	return err
}

// printJSONLine prints v as JSON on one line: the --json output of
// commands that stream (watch), one document per line.
func (a *app) printJSONLine(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(a.stdout, "%s\n", b)
	return err
}

// entryJSON is the --json form of a key's entry. Value holds the value when
// it is valid UTF-8, ValueBase64 otherwise; neither is set for delete and
// purge markers.
type entryJSON struct {
	Bucket      string    `json:"bucket"`
	Key         string    `json:"key"`
	Revision    uint64    `json:"revision"`
	Operation   string    `json:"operation"`
	Created     time.Time `json:"created"`
	Delta       *uint64   `json:"delta,omitempty"`
	Length      int       `json:"length"`
	Value       *string   `json:"value,omitempty"`
	ValueBase64 string    `json:"value_base64,omitempty"`
}

// newEntryJSON converts e; withDelta adds the number of later entries, which
// only watch-based reads (watch, history) know.
func newEntryJSON(e jetstream.KeyValueEntry, withDelta bool) entryJSON {
	j := entryJSON{
		Bucket:    e.Bucket(),
		Key:       e.Key(),
		Revision:  e.Revision(),
		Operation: opName(e.Operation()),
		Created:   e.Created().UTC(),
		Length:    len(e.Value()),
	}
	if withDelta {
		d := e.Delta()
		j.Delta = &d
	}
	if e.Operation() == jetstream.KeyValuePut {
		if utf8.Valid(e.Value()) {
			v := string(e.Value())
			j.Value = &v
		} else {
			j.ValueBase64 = base64.StdEncoding.EncodeToString(e.Value())
		}
	}
	return j
}

// writeResult is the --json output of put, create, update and update-with.
type writeResult struct {
	Bucket   string `json:"bucket"`
	Key      string `json:"key"`
	Revision uint64 `json:"revision"`
	Attempts int    `json:"attempts,omitempty"`
}

// printWrite reports a successful write.
func (a *app) printWrite(r writeResult) error {
	if a.json {
		return a.printJSON(r)
	}
	_, err := fmt.Fprintf(a.stdout, "%s > %s revision: %d\n", r.Bucket, r.Key, r.Revision)
	return err
}

// opName names an operation as the KV-Operation header does.
func opName(op jetstream.KeyValueOp) string {
	switch op {
	case jetstream.KeyValuePut:
		return "PUT"
	case jetstream.KeyValueDelete:
		return "DEL"
	case jetstream.KeyValuePurge:
		return "PURGE"
	}
	return "UNKNOWN"
}

// printable returns v as text if it is printable ASCII, else base64, as
// "nats kv" shows values.
func printable(v []byte) string {
	for _, r := range string(v) {
		if r > unicode.MaxASCII || !unicode.IsPrint(r) {
			return base64.StdEncoding.EncodeToString(v)
		}
	}
	return string(v)
}

// shorten keeps the start and end of s when it is longer than n runes.
func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	half := (n - 3) / 2
	return string(r[:half]) + "..." + string(r[len(r)-half:])
}

// humanTime formats t in local time to the second.
func humanTime(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

// humanBytes formats n with binary units: 512 B, 1.5 KiB, 3.0 MiB.
func humanBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// limitBytes formats a size limit, where -1 (or 0) means none.
func limitBytes(n int64) string {
	if n <= 0 {
		return "unlimited"
	}
	return humanBytes(uint64(n))
}

// table prints rows in aligned columns under a header line.
type table struct {
	rows [][]string
}

func newTable(headers ...string) *table { return &table{rows: [][]string{headers}} }

func (t *table) add(cells ...any) {
	row := make([]string, len(cells))
	for i, c := range cells {
		// Keep the grid intact whatever the cell holds.
		row[i] = strings.Map(func(r rune) rune {
			if r == '\n' || r == '\t' || r == '\r' {
				return ' '
			}
			return r
		}, fmt.Sprint(c))
	}
	t.rows = append(t.rows, row)
}

func (t *table) write(w io.Writer) error {
	var widths []int
	for _, row := range t.rows {
		for i, c := range row {
			if i >= len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	var b strings.Builder
	for _, row := range t.rows {
		var line strings.Builder
		for i, c := range row {
			line.WriteString(c)
			line.WriteString(strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c)+2))
		}
		b.WriteString(strings.TrimRight(line.String(), " "))
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}
