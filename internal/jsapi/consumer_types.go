package jsapi

import (
	"time"
)

// Consumer response types (ADR-1).
const (
	typeConsumerCreate = "io.nats.jetstream.api.v1.consumer_create_response"
	typeConsumerInfo   = "io.nats.jetstream.api.v1.consumer_info_response"
	typeConsumerDelete = "io.nats.jetstream.api.v1.consumer_delete_response"
	typeConsumerNames  = "io.nats.jetstream.api.v1.consumer_names_response"
	typeConsumerList   = "io.nats.jetstream.api.v1.consumer_list_response"
)

// ConsumerConfig is the JSON consumer configuration. Durations are
// nanoseconds, as on the wire.
type ConsumerConfig struct {
	Name              string            `json:"name,omitempty"`
	Durable           string            `json:"durable_name,omitempty"`
	Description       string            `json:"description,omitempty"`
	DeliverPolicy     string            `json:"deliver_policy"`
	OptStartSeq       uint64            `json:"opt_start_seq,omitempty"`
	OptStartTime      *time.Time        `json:"opt_start_time,omitempty"`
	AckPolicy         string            `json:"ack_policy"`
	AckWait           time.Duration     `json:"ack_wait,omitempty"`
	MaxDeliver        int               `json:"max_deliver,omitempty"`
	BackOff           []time.Duration   `json:"backoff,omitempty"`
	FilterSubject     string            `json:"filter_subject,omitempty"`
	FilterSubjects    []string          `json:"filter_subjects,omitempty"`
	ReplayPolicy      string            `json:"replay_policy"`
	RateLimit         uint64            `json:"rate_limit_bps,omitempty"`
	SampleFrequency   string            `json:"sample_freq,omitempty"`
	MaxWaiting        int               `json:"max_waiting,omitempty"`
	MaxAckPending     int               `json:"max_ack_pending,omitempty"`
	FlowControl       bool              `json:"flow_control,omitempty"`
	HeadersOnly       bool              `json:"headers_only,omitempty"`
	MaxRequestBatch   int               `json:"max_batch,omitempty"`
	MaxRequestExpires time.Duration     `json:"max_expires,omitempty"`
	MaxRequestBytes   int               `json:"max_bytes,omitempty"`
	DeliverSubject    string            `json:"deliver_subject,omitempty"`
	DeliverGroup      string            `json:"deliver_group,omitempty"`
	Heartbeat         time.Duration     `json:"idle_heartbeat,omitempty"`
	InactiveThreshold time.Duration     `json:"inactive_threshold,omitempty"`
	Replicas          int               `json:"num_replicas"`
	MemoryStorage     bool              `json:"mem_storage,omitempty"`
	Direct            bool              `json:"direct,omitempty"`
	Metadata          map[string]string `json:"metadata,omitempty"`
	PriorityGroups    []string          `json:"priority_groups,omitempty"`
	PriorityPolicy    string            `json:"priority_policy,omitempty"`
	PinnedTTL         time.Duration     `json:"priority_timeout,omitempty"`
	PauseUntil        *time.Time        `json:"pause_until,omitempty"`
}

// createConsumerRequest is the body of CONSUMER.CREATE.
type createConsumerRequest struct {
	Stream string          `json:"stream_name"`
	Config *ConsumerConfig `json:"config"`
	Action string          `json:"action,omitempty"`
	// Pedantic asks for refusal instead of defaults being filled in.
	Pedantic bool `json:"pedantic,omitempty"`
}

// SequenceInfo is a consumer's position in consumer and stream
// sequences.
type SequenceInfo struct {
	Consumer uint64     `json:"consumer_seq"`
	Stream   uint64     `json:"stream_seq"`
	Last     *time.Time `json:"last_active,omitempty"`
}

// ConsumerInfo is a consumer's configuration and state.
type ConsumerInfo struct {
	Stream         string         `json:"stream_name"`
	Name           string         `json:"name"`
	Created        time.Time      `json:"created"`
	Config         ConsumerConfig `json:"config"`
	Delivered      SequenceInfo   `json:"delivered"`
	AckFloor       SequenceInfo   `json:"ack_floor"`
	NumAckPending  int            `json:"num_ack_pending"`
	NumRedelivered int            `json:"num_redelivered"`
	NumWaiting     int            `json:"num_waiting"`
	NumPending     uint64         `json:"num_pending"`
	Cluster        *ClusterInfo   `json:"cluster,omitempty"`
	PushBound      bool           `json:"push_bound,omitempty"`
	TimeStamp      time.Time      `json:"ts"`
}

type consumerInfoResponse struct {
	apiResponse
	*ConsumerInfo
}

type consumerDeleteResponse struct {
	apiResponse
	Success bool `json:"success,omitempty"`
}

type consumerNamesResponse struct {
	apiResponse
	apiPaged
	Consumers []string `json:"consumers"`
}

type consumerListResponse struct {
	apiResponse
	apiPaged
	Consumers []*ConsumerInfo `json:"consumers"`
	Missing   []string        `json:"missing,omitempty"`
}

// consumerPagedRequest is the optional body of NAMES and LIST.
type consumerPagedRequest struct {
	Offset int `json:"offset"`
}
