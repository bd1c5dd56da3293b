package jsapi

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// StreamConfig is the stream configuration as the JetStream JSON API
// carries it (ADR-1). Field names, order and omitempty choices follow
// nats-server so that responses look the same to every client.
//
// Features Cairn does not implement are kept as raw JSON so that a
// request using them can be refused by name instead of being silently
// dropped.
type StreamConfig struct {
	Name                   string            `json:"name"`
	Description            string            `json:"description,omitempty"`
	Subjects               []string          `json:"subjects,omitempty"`
	Retention              Retention         `json:"retention"`
	MaxConsumers           int               `json:"max_consumers"`
	MaxMsgs                int64             `json:"max_msgs"`
	MaxBytes               int64             `json:"max_bytes"`
	MaxAge                 time.Duration     `json:"max_age"`
	MaxMsgsPer             int64             `json:"max_msgs_per_subject"`
	MaxMsgSize             int32             `json:"max_msg_size,omitempty"`
	Discard                Discard           `json:"discard"`
	Storage                Storage           `json:"storage"`
	Replicas               int               `json:"num_replicas"`
	NoAck                  bool              `json:"no_ack,omitempty"`
	Duplicates             time.Duration     `json:"duplicate_window,omitempty"`
	Placement              json.RawMessage   `json:"placement,omitempty"`
	Mirror                 json.RawMessage   `json:"mirror,omitempty"`
	Sources                json.RawMessage   `json:"sources,omitempty"`
	Compression            Compression       `json:"compression"`
	FirstSeq               uint64            `json:"first_seq,omitempty"`
	SubjectTransform       json.RawMessage   `json:"subject_transform,omitempty"`
	RePublish              *RePublish        `json:"republish,omitempty"`
	AllowDirect            bool              `json:"allow_direct"`
	MirrorDirect           bool              `json:"mirror_direct"`
	DiscardNewPer          bool              `json:"discard_new_per_subject,omitempty"`
	Sealed                 bool              `json:"sealed"`
	DenyDelete             bool              `json:"deny_delete"`
	DenyPurge              bool              `json:"deny_purge"`
	AllowRollup            bool              `json:"allow_rollup_hdrs"`
	ConsumerLimits         ConsumerLimits    `json:"consumer_limits"`
	AllowMsgTTL            bool              `json:"allow_msg_ttl"`
	SubjectDeleteMarkerTTL time.Duration     `json:"subject_delete_marker_ttl,omitempty"`
	AllowMsgCounter        bool              `json:"allow_msg_counter,omitempty"`
	AllowAtomicPublish     bool              `json:"allow_atomic,omitempty"`
	AllowMsgSchedules      bool              `json:"allow_msg_schedules,omitempty"`
	PersistMode            string            `json:"persist_mode,omitempty"`
	AllowBatchPublish      bool              `json:"allow_batched,omitempty"`
	Metadata               map[string]string `json:"metadata,omitempty"`
}

// streamConfigRequest is the body of STREAM.CREATE and STREAM.UPDATE.
type streamConfigRequest struct {
	StreamConfig
	Pedantic bool `json:"pedantic,omitempty"`
}

// RePublish copies every stored message whose subject matches Source to
// Destination (a subject mapping), with stream headers added.
type RePublish struct {
	Source      string `json:"src,omitempty"`
	Destination string `json:"dest"`
	HeadersOnly bool   `json:"headers_only,omitempty"`
}

// ConsumerLimits are stream-level defaults for consumers. They are
// stored and echoed; consumers arrive with the next issue.
type ConsumerLimits struct {
	InactiveThreshold time.Duration `json:"inactive_threshold,omitempty"`
	MaxAckPending     int           `json:"max_ack_pending,omitempty"`
}

// Retention is the stream retention policy. Only limits is implemented.
type Retention int

// Retention policies.
const (
	RetentionLimits Retention = iota
	RetentionInterest
	RetentionWorkQueue
)

// Discard says what a full stream does with a new message.
type Discard int

// Discard policies.
const (
	DiscardOld Discard = iota
	DiscardNew
)

// Storage is the stream's storage type. 0 means "not given" in a request
// and becomes file.
type Storage int

// Storage types.
const (
	StorageUnset Storage = iota
	StorageFile
	StorageMemory
)

// Compression is the on-disk compression requested for a stream.
type Compression int

// Compression choices.
const (
	CompressionNone Compression = iota
	CompressionS2
)

// enumJSON maps an enum's values to their JSON strings in one table.
type enumJSON[T ~int] []string

func (e enumJSON[T]) marshal(v T) ([]byte, error) {
	if int(v) < 0 || int(v) >= len(e) || e[v] == "" {
		return nil, fmt.Errorf("can not marshal %v", int(v))
	}
	return json.Marshal(e[v])
}

func (e enumJSON[T]) unmarshal(data []byte, v *T) error {
	var s string
	if err := json.Unmarshal(data, &s); err == nil {
		for i, name := range e {
			if name != "" && name == s {
				*v = T(i)
				return nil
			}
		}
	}
	return fmt.Errorf("can not unmarshal %q", data)
}

var (
	retentionNames   = enumJSON[Retention]{"limits", "interest", "workqueue"}
	discardNames     = enumJSON[Discard]{"old", "new"}
	storageNames     = enumJSON[Storage]{"", "file", "memory"}
	compressionNames = enumJSON[Compression]{"none", "s2"}
)

// MarshalJSON implements json.Marshaler.
func (r Retention) MarshalJSON() ([]byte, error) { return retentionNames.marshal(r) }

// UnmarshalJSON implements json.Unmarshaler.
func (r *Retention) UnmarshalJSON(b []byte) error { return retentionNames.unmarshal(b, r) }

// MarshalJSON implements json.Marshaler.
func (d Discard) MarshalJSON() ([]byte, error) { return discardNames.marshal(d) }

// UnmarshalJSON implements json.Unmarshaler.
func (d *Discard) UnmarshalJSON(b []byte) error { return discardNames.unmarshal(b, d) }

// MarshalJSON implements json.Marshaler.
func (s Storage) MarshalJSON() ([]byte, error) { return storageNames.marshal(s) }

// UnmarshalJSON implements json.Unmarshaler.
func (s *Storage) UnmarshalJSON(b []byte) error { return storageNames.unmarshal(b, s) }

// MarshalJSON implements json.Marshaler.
func (c Compression) MarshalJSON() ([]byte, error) { return compressionNames.marshal(c) }

// UnmarshalJSON implements json.Unmarshaler.
func (c *Compression) UnmarshalJSON(b []byte) error { return compressionNames.unmarshal(b, c) }

// present reports whether an optional raw JSON field was given a value;
// null and an empty list (some clients send "sources":[]) are absent.
func present(raw json.RawMessage) bool {
	v := strings.TrimSpace(string(raw))
	return v != "" && v != "null" && strings.ReplaceAll(v, " ", "") != "[]"
}
