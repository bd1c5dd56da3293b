package config

import (
	"strings"
	"testing"
	"time"

	"github.com/cairn-db/cairn/internal/daemon"
)

func TestBatchLimits(t *testing.T) {
	c, err := load(t, `jetstream {
  limits {
    max_ack_pending: 100
    batch {
      max_inflight_per_stream: 5
      max_inflight_total: 20
      max_msgs: 10
      timeout: "250ms"
    }
  }
}`, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := BatchLimits{MaxInflightPerStream: 5, MaxInflightTotal: 20, MaxMsgs: 10, Timeout: 250 * time.Millisecond}
	if c.JetStream.Batch != want {
		t.Fatalf("batch limits %+v, want %+v", c.JetStream.Batch, want)
	}
	if len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], "max_ack_pending") {
		t.Fatalf("warnings %q", c.Warnings)
	}
	var dc daemon.Config
	c.Apply(&dc)
	if dc.Batch.MaxInflightPerStream != 5 || dc.Batch.MaxInflightTotal != 20 || dc.Batch.MaxMsgs != 10 || dc.Batch.Timeout != 250*time.Millisecond {
		t.Fatalf("daemon batch limits %+v", dc.Batch)
	}
}

func TestBatchLimitsErrors(t *testing.T) {
	for text, want := range map[string]string{
		`jetstream { limits { batch { max_msgs: "x" } } }`:   "expected an integer",
		`jetstream { limits { batch { timeout: "soon" } } }`: "expected a duration",
		`jetstream { limits { batch: 5 } }`:                  "batch",
		`jetstream { limits: true }`:                         "limits",
	} {
		if _, err := load(t, text, nil); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want %q", text, err, want)
		}
	}
	c, err := load(t, `jetstream { limits { batch { max_msgs: -1 } } }`, nil)
	if err != nil || c.JetStream.Batch.MaxMsgs != 0 || len(c.Warnings) != 1 {
		t.Fatalf("negative max_msgs: %v %+v %q", err, c.JetStream.Batch, c.Warnings)
	}
}
