package jsapi

import "time"

// Response types, as nats-server names them (ADR-1).
const (
	typeAccountInfo  = "io.nats.jetstream.api.v1.account_info_response"
	typeStreamCreate = "io.nats.jetstream.api.v1.stream_create_response"
	typeStreamUpdate = "io.nats.jetstream.api.v1.stream_update_response"
	typeStreamInfo   = "io.nats.jetstream.api.v1.stream_info_response"
	typeStreamDelete = "io.nats.jetstream.api.v1.stream_delete_response"
	typeStreamNames  = "io.nats.jetstream.api.v1.stream_names_response"
	typeStreamList   = "io.nats.jetstream.api.v1.stream_list_response"
	typeStreamPurge  = "io.nats.jetstream.api.v1.stream_purge_response"
	typeMsgGet       = "io.nats.jetstream.api.v1.stream_msg_get_response"
	typeMsgDelete    = "io.nats.jetstream.api.v1.stream_msg_delete_response"
)

// Paging limits of the list endpoints.
const (
	namesLimit        = 1024
	listLimit         = 256
	maxSubjectDetails = 100_000
)

// page returns the bounds [lo, hi) of the page of at most limit items
// from offset in a list of total items. Offsets beyond the list give an
// empty page at its end, negative ones the first page; no sum can
// overflow, however large the offset a client sends.
func page(total, offset, limit int) (lo, hi int) {
	lo = min(max(offset, 0), total)
	return lo, lo + min(limit, total-lo)
}

type apiResponse struct {
	Type  string    `json:"type"`
	Error *APIError `json:"error,omitempty"`
}

type apiPaged struct {
	Total  int `json:"total"`
	Offset int `json:"offset"`
	Limit  int `json:"limit"`
}

type apiPagedRequest struct {
	Offset int `json:"offset"`
}

// StreamInfo is a stream's configuration and state.
type StreamInfo struct {
	Config    StreamConfig `json:"config"`
	Created   time.Time    `json:"created"`
	State     StreamState  `json:"state"`
	Cluster   *ClusterInfo `json:"cluster,omitempty"`
	TimeStamp time.Time    `json:"ts"`
}

// ClusterInfo names the server leading a stream; standalone, that is
// this server.
type ClusterInfo struct {
	Name   string `json:"name,omitempty"`
	Leader string `json:"leader,omitempty"`
	// Replicas are the other replicas of a replicated stream.
	Replicas []PeerInfo `json:"replicas,omitempty"`
}

// StreamState is the state block of a stream info.
type StreamState struct {
	Msgs        uint64            `json:"messages"`
	Bytes       uint64            `json:"bytes"`
	FirstSeq    uint64            `json:"first_seq"`
	FirstTime   time.Time         `json:"first_ts"`
	LastSeq     uint64            `json:"last_seq"`
	LastTime    time.Time         `json:"last_ts"`
	NumSubjects int               `json:"num_subjects,omitempty"`
	Subjects    map[string]uint64 `json:"subjects,omitempty"`
	NumDeleted  int               `json:"num_deleted,omitempty"`
	Deleted     []uint64          `json:"deleted,omitempty"`
	Consumers   int               `json:"consumer_count"`
}

type streamCreateResponse struct {
	apiResponse
	*StreamInfo
	DidCreate bool `json:"did_create,omitempty"`
}

type streamInfoRequest struct {
	apiPagedRequest
	DeletedDetails bool   `json:"deleted_details,omitempty"`
	SubjectsFilter string `json:"subjects_filter,omitempty"`
}

type streamInfoResponse struct {
	apiResponse
	apiPaged
	*StreamInfo
}

type successResponse struct {
	apiResponse
	Success bool `json:"success,omitempty"`
}

type streamListRequest struct {
	apiPagedRequest
	Subject string `json:"subject,omitempty"`
}

type streamNamesResponse struct {
	apiResponse
	apiPaged
	Streams []string `json:"streams"`
}

type streamListResponse struct {
	apiResponse
	apiPaged
	Streams []*StreamInfo `json:"streams"`
	Missing []string      `json:"missing,omitempty"`
}

type purgeRequest struct {
	Sequence uint64 `json:"seq,omitempty"`
	Subject  string `json:"filter,omitempty"`
	Keep     uint64 `json:"keep,omitempty"`
}

type purgeResponse struct {
	apiResponse
	Success bool   `json:"success,omitempty"`
	Purged  uint64 `json:"purged"`
}

type msgGetRequest struct {
	Seq       uint64     `json:"seq,omitempty"`
	LastFor   string     `json:"last_by_subj,omitempty"`
	NextFor   string     `json:"next_by_subj,omitempty"`
	Batch     int        `json:"batch,omitempty"`
	MaxBytes  int        `json:"max_bytes,omitempty"`
	StartTime *time.Time `json:"start_time,omitempty"`
	MultiLast []string   `json:"multi_last,omitempty"`
	UpToSeq   uint64     `json:"up_to_seq,omitempty"`
	UpToTime  *time.Time `json:"up_to_time,omitempty"`
	NoHeaders bool       `json:"no_hdr,omitempty"`
}

type storedMsg struct {
	Subject  string    `json:"subject"`
	Sequence uint64    `json:"seq"`
	Header   []byte    `json:"hdrs,omitempty"`
	Data     []byte    `json:"data,omitempty"`
	Time     time.Time `json:"time"`
}

type msgGetResponse struct {
	apiResponse
	Message *storedMsg `json:"message,omitempty"`
}

type msgDeleteRequest struct {
	Seq     uint64 `json:"seq"`
	NoErase bool   `json:"no_erase,omitempty"`
}

// accountInfoResponse answers $JS.API.INFO.
type accountInfoResponse struct {
	apiResponse
	*accountStats
}

type accountStats struct {
	Memory          uint64        `json:"memory"`
	Storage         uint64        `json:"storage"`
	ReservedMemory  uint64        `json:"reserved_memory"`
	ReservedStorage uint64        `json:"reserved_storage"`
	Streams         int           `json:"streams"`
	Consumers       int           `json:"consumers"`
	Limits          accountLimits `json:"limits"`
	Domain          string        `json:"domain,omitempty"`
	API             apiStats      `json:"api"`
}

type accountLimits struct {
	MaxMemory            int64 `json:"max_memory"`
	MaxStorage           int64 `json:"max_storage"`
	MaxStreams           int   `json:"max_streams"`
	MaxConsumers         int   `json:"max_consumers"`
	MaxAckPending        int   `json:"max_ack_pending"`
	MemoryMaxStreamBytes int64 `json:"memory_max_stream_bytes"`
	StoreMaxStreamBytes  int64 `json:"storage_max_stream_bytes"`
	MaxBytesRequired     bool  `json:"max_bytes_required"`
}

type apiStats struct {
	Level  int    `json:"level"`
	Total  uint64 `json:"total"`
	Errors uint64 `json:"errors"`
}
