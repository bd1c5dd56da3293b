package jsapi

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// kvConfig is the stream configuration nats.go sends for a default
// bucket "b" (observed on the wire against nats-server 2.15.2).
const kvConfig = `{"name":"KV_b","subjects":["$KV.b.\u003e"],"retention":"limits","max_consumers":-1,"max_msgs":-1,"max_bytes":-1,"discard":"new","max_age":0,"max_msgs_per_subject":1,"max_msg_size":-1,"storage":"file","num_replicas":1,"duplicate_window":120000000000,"deny_delete":true,"allow_rollup_hdrs":true,"compression":"none","allow_direct":true,"mirror_direct":false,"consumer_limits":{}}`

func decodeConfig(t *testing.T, s string) StreamConfig {
	t.Helper()
	var c streamConfigRequest
	if err := json.Unmarshal([]byte(s), &c); err != nil {
		t.Fatalf("decode %s: %v", s, err)
	}
	return c.StreamConfig
}

func TestNormalizeDefaults(t *testing.T) {
	cfg, e := normalize(decodeConfig(t, `{"name":"ORDERS"}`))
	if e != nil {
		t.Fatal(e)
	}
	want := StreamConfig{
		Name: "ORDERS", Subjects: []string{"ORDERS"}, MaxConsumers: -1, MaxMsgs: -1,
		MaxBytes: -1, MaxMsgsPer: -1, MaxMsgSize: -1, Storage: StorageFile, Replicas: 1,
		Duplicates: 2 * time.Minute,
	}
	got, _ := json.Marshal(cfg)
	exp, _ := json.Marshal(want)
	if string(got) != string(exp) {
		t.Fatalf("got  %s\nwant %s", got, exp)
	}
}

func TestNormalizeKVBucket(t *testing.T) {
	cfg, e := normalize(decodeConfig(t, kvConfig))
	if e != nil {
		t.Fatal(e)
	}
	if !cfg.AllowDirect || !cfg.DenyDelete || !cfg.AllowRollup || cfg.MaxMsgsPer != 1 || cfg.Discard != DiscardNew {
		t.Fatalf("bucket config altered: %+v", cfg)
	}
}

func TestNormalizeErrors(t *testing.T) {
	tests := []struct {
		name, cfg string
		code      uint16
		desc      string
	}{
		{"empty name", `{"name":""}`, 10052, "stream name is required and can not contain '.', '*', '>', '\\', '/'"},
		{"dot in name", `{"name":"a.b"}`, 10052, "stream name is required and can not contain '.', '*', '>', '\\', '/'"},
		{"negative age", `{"name":"S","max_age":-1}`, 10052, "max age can not be negative"},
		{"tiny age", `{"name":"S","max_age":1000}`, 10052, "max age needs to be >= 100ms"},
		{"window over age", `{"name":"S","max_age":1000000000,"duplicate_window":2000000000}`, 10052, "duplicates window can not be larger then max age"},
		{"tiny window", `{"name":"S","duplicate_window":1000}`, 10052, "duplicates window needs to be >= 100ms"},
		{"rollup without purge", `{"name":"S","deny_purge":true,"allow_rollup_hdrs":true}`, 10052, "roll-ups require the purge permission"},
		{"replicas", `{"name":"S","num_replicas":3}`, 10074, "replicas > 1 not supported in non-clustered mode"},
		{"too many replicas", `{"name":"S","num_replicas":7}`, 10052, "maximum replicas is 5"},
		{"negative replicas", `{"name":"S","num_replicas":-1}`, 10133, "replicas count cannot be negative"},
		{"marker ttl small", `{"name":"S","subject_delete_marker_ttl":1000}`, 10052, "subject delete marker TTL must be at least 1 second"},
		{"interest", `{"name":"S","retention":"interest"}`, 10052, "retention policy interest not supported by this server"},
		{"workqueue", `{"name":"S","retention":"workqueue"}`, 10052, "retention policy workqueue not supported by this server"},
		{"mirror", `{"name":"S","mirror":{"name":"O"}}`, 10052, "mirrors not supported by this server"},
		{"sources", `{"name":"S","sources":[{"name":"O"}]}`, 10052, "sources not supported by this server"},
		{"counters", `{"name":"S","allow_msg_counter":true}`, 10052, "message counters not supported by this server"},
		{"schedules", `{"name":"S","allow_msg_schedules":true}`, 10052, "message schedules not supported by this server"},
		{"bad subject", `{"name":"S","subjects":["a..b"]}`, 10052, "invalid subject"},
		{"duplicate subject", `{"name":"S","subjects":["a","a"]}`, 10052, `subject "a" overlaps with "a"`},
		{"overlap", `{"name":"S","subjects":["a.*","a.b"]}`, 10052, `subject "a.*" overlaps with "a.b"`},
		{"capture all", `{"name":"S","subjects":[">"]}`, 10052, "capturing all subjects requires no-ack to be true"},
		{"api", `{"name":"S","subjects":["$JS.API.>"]}`, 10052, "subjects that overlap with jetstream api require no-ack to be true"},
		{"sys", `{"name":"S","subjects":["$SYS.x"]}`, 10052, "subjects that overlap with system api require no-ack to be true"},
		{"republish cycle", `{"name":"S","subjects":["a.>"],"republish":{"src":"a.>","dest":"a.x.>"}}`, 10052, "stream configuration for republish destination forms a cycle"},
		{"bucket name", `{"name":"KV_a+b","subjects":["$KV.a+b.>"],"max_msgs_per_subject":1}`, 10052, errInvalidBucket.Description},
		{"bucket history", `{"name":"KV_b","subjects":["$KV.b.>"],"max_msgs_per_subject":65}`, 10052, errInvalidHistory.Description},
		{"bucket unlimited", `{"name":"KV_b","subjects":["$KV.b.>"]}`, 10052, errInvalidHistory.Description},
		{"republish bad", `{"name":"S","subjects":["a.>"],"republish":{"src":"a.>","dest":"b.{{split(1)}}"}}`, 10052, "stream configuration for republish with transform from 'a.>' to 'b.{{split(1)}}' not valid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, e := normalize(decodeConfig(t, tt.cfg))
			if e == nil {
				t.Fatal("accepted")
			}
			if e.ErrCode != tt.code || e.Description != tt.desc {
				t.Fatalf("got %d %q, want %d %q", e.ErrCode, e.Description, tt.code, tt.desc)
			}
		})
	}
}

func TestNormalizeMarkersEnableTTLAndRollup(t *testing.T) {
	cfg, e := normalize(decodeConfig(t, `{"name":"S","subject_delete_marker_ttl":5000000000}`))
	if e != nil {
		t.Fatal(e)
	}
	if !cfg.AllowMsgTTL || !cfg.AllowRollup {
		t.Fatalf("markers did not switch on TTL and roll-ups: %+v", cfg)
	}
}

func TestDecodeEnumErrors(t *testing.T) {
	var c StreamConfig
	err := json.Unmarshal([]byte(`{"name":"X","storage":"foo"}`), &c)
	if err == nil || err.Error() != `can not unmarshal "\"foo\""` {
		t.Fatalf("got %v", err)
	}
}

func TestCheckUpdate(t *testing.T) {
	base, _ := normalize(decodeConfig(t, kvConfig))
	tests := []struct {
		name   string
		change func(c *StreamConfig)
		desc   string
	}{
		{"history", func(c *StreamConfig) { c.MaxMsgsPer = 5 }, ""},
		{"storage", func(c *StreamConfig) { c.Storage = StorageMemory }, "stream configuration update can not change storage type"},
		{"deny delete", func(c *StreamConfig) { c.DenyDelete = false }, "stream configuration update can not cancel deny message deletes"},
		{"ttl off", func(c *StreamConfig) { c.AllowMsgTTL = false }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := base
			tt.change(&n)
			e := checkUpdate(&base, &n)
			switch {
			case tt.desc == "" && e != nil:
				t.Fatalf("refused: %v", e)
			case tt.desc != "" && (e == nil || e.Description != tt.desc):
				t.Fatalf("got %v, want %q", e, tt.desc)
			}
		})
	}
	withTTL := base
	withTTL.AllowMsgTTL = true
	if e := checkUpdate(&withTTL, &base); e == nil || e.Description != "message TTL status can not be disabled" {
		t.Fatalf("got %v", e)
	}
}

func TestStaticMetadata(t *testing.T) {
	c := StreamConfig{Metadata: map[string]string{"_nats.ver": "x", "k": "v"}}
	setStaticMetadata(&c)
	if len(c.Metadata) != 2 || c.Metadata["k"] != "v" || c.Metadata["_nats.req.level"] != "0" {
		t.Fatalf("got %v", c.Metadata)
	}
	c.AllowMsgTTL = true
	setStaticMetadata(&c)
	if c.Metadata["_nats.req.level"] != "1" {
		t.Fatalf("got %v", c.Metadata)
	}
	d := withDynamicMetadata(c, "2.11.0", 1)
	if d.Metadata["_nats.ver"] != "2.11.0" || d.Metadata["_nats.level"] != "1" || len(c.Metadata) != 2 {
		t.Fatalf("got %v / %v", d.Metadata, c.Metadata)
	}
}

func TestKVBucketDetection(t *testing.T) {
	tests := []struct {
		cfg, bucket string
	}{
		{`{"name":"KV_b","subjects":["$KV.b.>"]}`, "b"},
		{`{"name":"KV_b","subjects":["$KV.c.>"]}`, ""},
		{`{"name":"KV_b","subjects":["$KV.b.>","x"]}`, ""},
		{`{"name":"ORDERS","subjects":["$KV.b.>"]}`, ""},
	}
	for _, tt := range tests {
		c := decodeConfig(t, tt.cfg)
		if got := kvBucket(&c); got != tt.bucket {
			t.Errorf("%s: bucket %q, want %q", tt.cfg, got, tt.bucket)
		}
	}
	// A stream that is not a bucket may use any stream name.
	if _, e := normalize(decodeConfig(t, `{"name":"KV_a+b","subjects":["other"]}`)); e != nil {
		t.Fatal(e)
	}
}

func TestValidKVSubject(t *testing.T) {
	for subj, ok := range map[string]bool{
		"$KV.b.k": true, "$KV.b.a/b_c=d.e-f": true, "$KV.b.a+b": false,
		"$KV.b.ä": false, "$KV.c.k": false, "$KV.b.a*b": false,
	} {
		if got := validKVSubject("$KV.b.", subj); got != ok {
			t.Errorf("%s: got %v", subj, got)
		}
	}
}

func TestEmptyOptionalFeaturesAreAbsent(t *testing.T) {
	for _, body := range []string{
		`{"name":"S","sources":[]}`,
		`{"name":"S","sources":null,"mirror":null,"placement":{}}`,
		`{"name":"S","subject_transform":null}`,
	} {
		cfg, e := normalize(decodeConfig(t, body))
		if e != nil {
			t.Errorf("%s: %v", body, e)
		}
		if out, _ := json.Marshal(cfg); strings.Contains(string(out), "sources") || strings.Contains(string(out), "placement") {
			t.Errorf("%s: echoed as %s", body, out)
		}
	}
}
