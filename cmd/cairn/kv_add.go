package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

func newKVAddCommand(a *app) *cobra.Command {
	var f bucketFlags
	cmd := &cobra.Command{
		Use:     "add BUCKET",
		Aliases: []string{"new"},
		Short:   "Create a bucket",
		Long: `Create the bucket BUCKET and show its configuration. Adding a bucket that
exists with the same configuration succeeds; with another configuration it
fails (change it with "cairn kv edit").

Sizes take a unit: B, K or KB or KiB, M, MB or MiB, G, GB or GiB, T, TB or
TiB, all powers of 1024; -1 means unlimited. Durations look like 90s, 10m
or 1h30m; 0 means forever.`,
		Example: `  cairn kv add my-kv
  cairn kv add locks --ttl 30s
  cairn kv add config --history 10 --max-value-size 1MiB --description "service settings"`,
		Args: argsRange(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg := jetstream.KeyValueConfig{Bucket: args[0]}
			if err := f.apply(&cfg, func(string) bool { return true }); err != nil {
				return err
			}
			js, err := a.connect()
			if err != nil {
				return err
			}
			kv, err := js.CreateKeyValue(cmd.Context(), cfg)
			if err != nil {
				return onKey(err, cfg.Bucket, "")
			}
			return a.showBucket(cmd, kv)
		},
	}
	f.register(cmd.Flags(), true)
	return cmd
}

// bucketFlags are the configuration flags of add and edit.
type bucketFlags struct {
	description              string
	history                  int
	ttl, markerTTL           time.Duration
	maxValueSize, maxBktSize string
	storage                  string
	replicas                 int
	compress                 bool
}

func (f *bucketFlags) register(fs *pflag.FlagSet, add bool) {
	fs.StringVar(&f.description, "description", "", "a description of the bucket")
	fs.IntVar(&f.history, "history", 1, "how many revisions to keep per key, 1 to 64")
	fs.DurationVar(&f.ttl, "ttl", 0, "remove values older than this; 0 keeps them forever")
	fs.DurationVar(&f.markerTTL, "limit-marker-ttl", 0, "allow per-key TTLs, and keep a marker this long when the TTL removes a key")
	fs.DurationVar(&f.markerTTL, "marker-ttl", 0, "same as --limit-marker-ttl (the name \"nats kv add\" uses)")
	fs.StringVar(&f.maxValueSize, "max-value-size", "-1", "largest value accepted, e.g. 1MiB; -1 for no limit")
	fs.StringVar(&f.maxBktSize, "max-bucket-size", "-1", "largest total size of the bucket, e.g. 1GiB; -1 for no limit")
	if add {
		fs.StringVar(&f.storage, "storage", "file", "where values are kept: file or memory")
	}
	fs.IntVar(&f.replicas, "replicas", 1, "how many servers keep a copy")
	fs.BoolVar(&f.compress, "compress", false, "compress values on disk")
}

// apply sets the fields of cfg whose flags are selected by changed.
func (f *bucketFlags) apply(cfg *jetstream.KeyValueConfig, changed func(name string) bool) error {
	if changed("description") {
		cfg.Description = f.description
	}
	if changed("history") {
		if f.history < 1 || f.history > 64 {
			return usageErrorf("--history must be between 1 and 64, got %d", f.history)
		}
		cfg.History = uint8(f.history)
	}
	if changed("ttl") {
		if f.ttl < 0 {
			return usageErrorf("--ttl must not be negative, got %s", f.ttl)
		}
		cfg.TTL = f.ttl
	}
	if changed("limit-marker-ttl") || changed("marker-ttl") {
		if f.markerTTL < 0 {
			return usageErrorf("--limit-marker-ttl must not be negative, got %s", f.markerTTL)
		}
		cfg.LimitMarkerTTL = f.markerTTL
	}
	if changed("max-value-size") {
		n, err := parseSize("max-value-size", f.maxValueSize, math.MaxInt32)
		if err != nil {
			return err
		}
		cfg.MaxValueSize = int32(n)
	}
	if changed("max-bucket-size") {
		n, err := parseSize("max-bucket-size", f.maxBktSize, math.MaxInt64)
		if err != nil {
			return err
		}
		cfg.MaxBytes = n
	}
	if changed("storage") {
		switch strings.ToLower(f.storage) {
		case "file", "f":
			cfg.Storage = jetstream.FileStorage
		case "memory", "m":
			cfg.Storage = jetstream.MemoryStorage
		default:
			return usageErrorf("--storage must be file or memory, got %q", f.storage)
		}
	}
	if changed("replicas") {
		if f.replicas < 1 {
			return usageErrorf("--replicas must be at least 1, got %d", f.replicas)
		}
		cfg.Replicas = f.replicas
	}
	if changed("compress") {
		cfg.Compression = f.compress
	}
	return nil
}

// sizeUnits are the powers of 1024 that sizes may carry.
var sizeUnits = map[string]uint{
	"": 0, "B": 0,
	"K": 10, "KB": 10, "KIB": 10,
	"M": 20, "MB": 20, "MIB": 20,
	"G": 30, "GB": 30, "GIB": 30,
	"T": 40, "TB": 40, "TIB": 40,
}

// parseSize parses a size flag: a whole number with an optional unit, or a
// negative number for unlimited (-1).
func parseSize(flag, s string, limit int64) (int64, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "-") {
		if _, err := strconv.ParseInt(s, 10, 64); err == nil {
			return -1, nil
		}
	}
	digits := strings.TrimRightFunc(s, func(r rune) bool { return r < '0' || r > '9' })
	shift, ok := sizeUnits[strings.ToUpper(strings.TrimSpace(s[len(digits):]))]
	n, err := strconv.ParseInt(digits, 10, 64)
	if !ok || err != nil {
		return 0, usageErrorf("--%s: invalid size %q: use a number with an optional unit such as 512, 64KiB or 1GB, or -1 for no limit", flag, s)
	}
	if n > limit>>shift {
		return 0, usageErrorf("--%s: %q is too large, the most is %d bytes", flag, s, limit)
	}
	return n << shift, nil
}

// bucketJSON is the --json form of a bucket's configuration and state.
// Durations are in nanoseconds and sizes in bytes, -1 meaning unlimited, as
// in the JetStream API.
type bucketJSON struct {
	Bucket         string            `json:"bucket"`
	Description    string            `json:"description,omitempty"`
	Stream         string            `json:"stream"`
	Created        time.Time         `json:"created"`
	History        int64             `json:"history"`
	TTL            time.Duration     `json:"ttl"`
	LimitMarkerTTL time.Duration     `json:"limit_marker_ttl"`
	MaxValueSize   int32             `json:"max_value_size"`
	MaxBucketSize  int64             `json:"max_bucket_size"`
	Storage        string            `json:"storage"`
	Replicas       int               `json:"replicas"`
	Compressed     bool              `json:"compressed"`
	Values         uint64            `json:"values"`
	Bytes          uint64            `json:"bytes"`
	LastUpdate     *time.Time        `json:"last_update,omitempty"`
	Metadata       map[string]string `json:"metadata,omitempty"`
}

func newBucketJSON(st jetstream.KeyValueStatus) bucketJSON {
	j := bucketJSON{
		Bucket:         st.Bucket(),
		History:        st.History(),
		TTL:            st.TTL(),
		LimitMarkerTTL: st.LimitMarkerTTL(),
		Compressed:     st.IsCompressed(),
		Values:         st.Values(),
		Bytes:          st.Bytes(),
		Stream:         "KV_" + st.Bucket(),
		MaxValueSize:   -1,
		MaxBucketSize:  -1,
		Replicas:       1,
		Storage:        "file",
	}
	if bs, ok := st.(*jetstream.KeyValueBucketStatus); ok && bs.StreamInfo() != nil {
		info := bs.StreamInfo()
		j.Description = info.Config.Description
		j.Stream = info.Config.Name
		j.Created = info.Created.UTC()
		j.MaxValueSize = info.Config.MaxMsgSize
		j.MaxBucketSize = info.Config.MaxBytes
		j.Storage = strings.ToLower(info.Config.Storage.String())
		j.Replicas = max(info.Config.Replicas, 1)
		if !info.State.LastTime.IsZero() {
			t := info.State.LastTime.UTC()
			j.LastUpdate = &t
		}
		for k, v := range info.Config.Metadata {
			if strings.HasPrefix(k, "_nats.") {
				continue // the server's own bookkeeping
			}
			if j.Metadata == nil {
				j.Metadata = map[string]string{}
			}
			j.Metadata[k] = v
		}
	}
	return j
}

// limitDuration formats a duration setting where 0 means none.
func limitDuration(d time.Duration, none string) string {
	if d <= 0 {
		return none
	}
	return d.String()
}

// bucketRows is the human form of a bucket, as label/value rows.
func bucketRows(j bucketJSON) [][2]string {
	rows := [][2]string{{"Bucket Name", j.Bucket}}
	if j.Description != "" {
		rows = append(rows, [2]string{"Description", j.Description})
	}
	return append(rows,
		[2]string{"Created", humanTime(j.Created)},
		[2]string{"History Kept", strconv.FormatInt(j.History, 10)},
		[2]string{"Values Stored", strconv.FormatUint(j.Values, 10)},
		[2]string{"Bucket Size", humanBytes(j.Bytes)},
		[2]string{"Maximum Bucket Size", limitBytes(j.MaxBucketSize)},
		[2]string{"Maximum Value Size", limitBytes(int64(j.MaxValueSize))},
		[2]string{"Maximum Age (TTL)", limitDuration(j.TTL, "unlimited")},
		[2]string{"Per-Key TTL Supported", strconv.FormatBool(j.LimitMarkerTTL > 0)},
		[2]string{"Limit Marker TTL", limitDuration(j.LimitMarkerTTL, "none")},
		[2]string{"Storage", j.Storage},
		[2]string{"Replicas", strconv.Itoa(j.Replicas)},
		[2]string{"Compressed", strconv.FormatBool(j.Compressed)},
		[2]string{"JetStream Stream", j.Stream},
		[2]string{"Last Update", humanTime(derefTime(j.LastUpdate))},
	)
}

func derefTime(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

// showBucket prints the status of kv, as info, add and edit do.
func (a *app) showBucket(cmd *cobra.Command, kv jetstream.KeyValue) error {
	st, err := kv.Status(cmd.Context())
	if err != nil {
		return onKey(err, kv.Bucket(), "")
	}
	j := newBucketJSON(st)
	if a.json {
		return a.printJSON(j)
	}
	rows := bucketRows(j)
	width := 0
	for _, r := range rows {
		width = max(width, len(r[0]))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Information for Key-Value Store Bucket %s\n\n", j.Bucket)
	for _, r := range rows {
		fmt.Fprintf(&b, "  %*s: %s\n", width, r[0], r[1])
	}
	_, err = fmt.Fprint(a.stdout, b.String())
	return err
}
